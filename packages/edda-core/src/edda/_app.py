"""EddaApp: one worker of a service. Owns the storage, runs instances, recovers abandoned ones."""

from __future__ import annotations

import asyncio
import base64
import inspect
import json
import logging
import os
import re
from datetime import datetime, timedelta
from typing import Any, Literal

from edda._context import RunState, StorageFault
from edda._engine import Engine
from edda._registry import get_workflow
from edda._workflow import Workflow
from edda.clock import Clock, IdSource, SystemClock, UuidIdSource
from edda.exceptions import (
    ConfigurationError,
    LeaseLostError,
    StorageUnavailableError,
    WorkflowCancelledException,
    WorkflowFailedError,
    WorkflowNotFoundError,
    WorkflowStateError,
)
from edda.retry import RetryPolicy
from edda.serialization import to_storable
from edda.storage import open_storage
from edda.storage.records import (
    ALL_STATUSES,
    FINISHED_STATUSES,
    ChannelMessageRecord,
    Fence,
    InstanceQuery,
    InstanceRecord,
    InstanceStatus,
    InstanceUpdate,
    NewInstance,
    NewMessage,
    StepCommit,
)

__all__ = ["EddaApp", "current_app"]

logger = logging.getLogger("edda")

# What an attempt to claim and start an instance here came to (EddaApp._claim_and_start).
_STARTED, _HERE, _NOT_CLAIMED, _RELEASED = "started", "running here", "not claimed", "released"
_AUTO_BATCH_MIN, _AUTO_BATCH_MAX = 10, 100


def _cpu_headroom_batch() -> int:
    """10 on a saturated machine, up to 100 on an idle one (stdlib only: the 1-minute load average per core)."""
    try:
        load = os.getloadavg()[0] / (os.cpu_count() or 1)
    except OSError:  # not available on this platform
        return _AUTO_BATCH_MAX
    return int(_AUTO_BATCH_MIN + (_AUTO_BATCH_MAX - _AUTO_BATCH_MIN) * max(0.0, 1.0 - load))


_current: EddaApp | None = None
_FILTER_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*(\.[A-Za-z_][A-Za-z0-9_\-]*)*$")
_MAX_INSTANCE_ID = 255


def current_app() -> EddaApp:
    """The most recently initialized EddaApp of this process (what ``Workflow.start`` uses)."""
    if _current is None:
        raise RuntimeError(
            "No EddaApp is running: create one and `await app.initialize()` (or `async with EddaApp(...) as app:`) "
            "before starting workflows."
        )
    return _current


class EddaApp:
    """A worker of a service: runs workflows against a database and recovers abandoned ones.

    Args:
        service_name: name of the service (used in worker ids and logs).
        db_url: database URL: ``sqlite:///workflow.db`` (default ``sqlite:///edda.db``), ``postgresql://...``,
            ``mysql://...`` or ``memory://``. Ignored when ``storage`` is given.
        storage: a storage object to use instead of resolving ``db_url``.
        outbox_enabled: run the transactional outbox relayer (needs ``broker_url`` and ``edda-outbox``).
        broker_url: where the outbox relayer publishes CloudEvents.
        hooks: lifecycle hooks (see :class:`edda.WorkflowHooks`).
        default_retry_policy: retry policy of activities that declare none.
        message_retention_days: how long delivered channel messages are kept.
        pool_size, max_overflow, pool_timeout, pool_recycle, pool_pre_ping: SQL connection pool (ignored for
            SQLite and memory).
        use_listen_notify: PostgreSQL LISTEN/NOTIFY wake-ups; ``None`` = on for PostgreSQL.
        notify_fallback_interval: seconds between safety-net polls when notifications are on.
        max_workflows_per_batch: instances claimed per recovery pass (int, ``"auto"`` or ``"auto:cpu"``).
        leader_heartbeat_interval, leader_lease_duration: leader election timing for singleton duties.
        auto_migrate: apply schema migrations at ``initialize()``.
        lease_timeout_seconds: how long a worker keeps an instance without heartbeating; a dead worker's
            instances are resumed elsewhere after at most this long (sooner where death is detected directly).
        recovery_interval: seconds between passes that look for instances needing a worker.
        clock, id_source: injectable time and id sources (tests).
        worker_id: this worker's id (default: service name + a unique suffix).
    """

    def __init__(
        self,
        service_name: str = "edda",
        db_url: str | None = None,
        *,
        storage: Any = None,
        outbox_enabled: bool = False,
        broker_url: str | None = None,
        hooks: Any = None,
        default_retry_policy: RetryPolicy | None = None,
        message_retention_days: int = 7,
        pool_size: int = 5,
        max_overflow: int = 10,
        pool_timeout: int = 30,
        pool_recycle: int = 3600,
        pool_pre_ping: bool = True,
        use_listen_notify: bool | None = None,
        notify_fallback_interval: int = 30,
        max_workflows_per_batch: int | Literal["auto", "auto:cpu"] = 10,
        leader_heartbeat_interval: int = 15,
        leader_lease_duration: int = 45,
        auto_migrate: bool = True,
        lease_timeout_seconds: float = 30.0,
        recovery_interval: float = 1.0,
        clock: Clock | None = None,
        id_source: IdSource | None = None,
        worker_id: str | None = None,
    ) -> None:
        if not isinstance(service_name, str) or not service_name:
            raise ConfigurationError("service_name must be a non-empty string, e.g. EddaApp(service_name='orders')")
        if outbox_enabled and not broker_url:
            raise ConfigurationError("outbox_enabled=True needs broker_url='http://...' (where events are published)")
        if default_retry_policy is not None and not isinstance(default_retry_policy, RetryPolicy):
            raise ConfigurationError("default_retry_policy must be a RetryPolicy")
        if not (
            isinstance(max_workflows_per_batch, int) and max_workflows_per_batch >= 1
        ) and max_workflows_per_batch not in ("auto", "auto:cpu"):
            raise ConfigurationError(
                f"max_workflows_per_batch must be a positive int, 'auto' or 'auto:cpu', got {max_workflows_per_batch!r}"
            )
        for name, value in (
            ("lease_timeout_seconds", lease_timeout_seconds),
            ("recovery_interval", recovery_interval),
            ("message_retention_days", message_retention_days),
        ):
            if not isinstance(value, int | float) or value <= 0:
                raise ConfigurationError(f"{name} must be a positive number, got {value!r}")
        self.service_name = service_name
        self.db_url = db_url if db_url is not None else ("sqlite:///edda.db" if storage is None else None)
        self.outbox_enabled = outbox_enabled
        self.broker_url = broker_url
        self.hooks = hooks
        self.default_retry_policy = default_retry_policy or RetryPolicy()
        self.message_retention_days = message_retention_days
        self.use_listen_notify = use_listen_notify
        self.notify_fallback_interval = notify_fallback_interval
        self.max_workflows_per_batch = max_workflows_per_batch
        self.leader_heartbeat_interval = leader_heartbeat_interval
        self.leader_lease_duration = leader_lease_duration
        self.lease_timeout_seconds = float(lease_timeout_seconds)
        self.recovery_interval = float(recovery_interval)
        self.clock: Clock = clock or SystemClock()
        self.ids: IdSource = id_source or UuidIdSource()
        self.worker_id = worker_id or f"{service_name}-{self.ids.new_id()}"
        self._storage_options = {
            "pool_size": pool_size,
            "max_overflow": max_overflow,
            "pool_timeout": pool_timeout,
            "pool_recycle": pool_recycle,
            "pool_pre_ping": pool_pre_ping,
            "auto_migrate": auto_migrate,
        }
        if use_listen_notify is not None:
            self._storage_options["use_listen_notify"] = use_listen_notify
        self._storage = storage
        self._owns_storage = storage is None
        self._engine: Engine | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        # Instances this process is claiming right now (between the check of _tasks and the claim's answer): a
        # second claim from this process in that window would bump the lease epoch and start a second run.
        self._claiming: set[str] = set()
        self._auto_batch = _AUTO_BATCH_MIN  # the next pass's claim size under max_workflows_per_batch="auto"
        self._rewake: set[str] = set()  # woken while still running here: resume again when that run ends
        self._faults: dict[str, int] = {}  # consecutive storage faults per instance, for the retry backoff
        self._runs: dict[str, RunState] = {}
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._background: list[asyncio.Task[None]] = []
        self._wake_recovery = asyncio.Event()
        self._event_handlers: dict[str, list[Any]] = {}
        self._outbox_wake = asyncio.Event()
        self._relayer: Any = None
        self._initialized = False
        self._stopped = False
        self._asgi: Any = None

    # -- lifecycle ----------------------------------------------------------------------------------------------

    @property
    def storage(self) -> Any:
        """The storage backend (read state with ``get_instance``, ``get_history``, ...)."""
        if self._storage is None:
            raise RuntimeError("The storage is opened by `await app.initialize()`; call it first.")
        return self._storage

    async def initialize(self) -> None:
        """Open the storage (migrating the schema if needed), resume abandoned instances, start background work.

        Idempotent. Makes this app the process's current app (used by ``Workflow.start``).
        """
        global _current
        if self._initialized:
            return
        if self._storage is None:
            assert self.db_url is not None
            self._storage = open_storage(self.db_url, **self._storage_options)
        await self._storage.initialize()
        self._engine = Engine(self)
        if getattr(self._storage.capabilities, "single_process_takeover", False):
            # Only one process may use this database, so leases held by anyone else belong to a dead process.
            released = await self._storage.release_foreign_leases(worker_id=self.worker_id)
            if released:
                logger.info("Took over %d instance(s) left by a previous process", released)
        await self._storage.register_worker(self.worker_id)
        set_wake_callback = getattr(self._storage, "set_wake_callback", None)
        if callable(set_wake_callback):  # e.g. PostgreSQL LISTEN/NOTIFY: other processes' wake-ups reach us
            set_wake_callback(self._on_storage_wake)
        if self.outbox_enabled:
            await self._start_relayer()
        self._initialized = True
        self._stopped = False
        _current = self
        self._background = [
            asyncio.create_task(self._recovery_loop(), name="edda-recovery"),
            asyncio.create_task(self._heartbeat_loop(), name="edda-heartbeat"),
            asyncio.create_task(self._cleanup_loop(), name="edda-cleanup"),
        ]

    async def _start_relayer(self) -> None:
        try:
            from edda_outbox import OutboxRelayer  # pyright: ignore[reportMissingImports]
        except ImportError as exc:
            raise ImportError(
                "outbox_enabled=True needs the edda-outbox package (the relayer that publishes outbox events): "
                "pip install edda-outbox"
            ) from exc
        self._relayer = OutboxRelayer(
            self.storage, self.broker_url, wake_event=self._outbox_wake, worker_id=self.worker_id
        )
        await self._relayer.start()

    def _outbox_committed(self) -> None:
        """Outbox rows were committed: wake the relayer now instead of at its next poll."""
        self._outbox_wake.set()

    async def shutdown(self) -> None:
        """Stop background work and running instances (their leases are released so others resume them at once),
        then close the storage if this app opened it. Idempotent."""
        global _current
        if not self._initialized:
            return
        self._stopped = True
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        if self._relayer is not None:
            await self._relayer.stop()
            self._relayer = None
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for run in list(self._runs.values()):
            try:
                run.cancel_timers()
                await run.flush(InstanceUpdate(release_lease=True))
            except (LeaseLostError, StorageFault, StorageUnavailableError):
                pass
            except Exception:
                logger.exception("Releasing instance %s at shutdown failed", run.instance_id)
        self._runs.clear()
        self._tasks.clear()
        try:
            await self.storage.unregister_worker(self.worker_id)
        except Exception:
            logger.debug("unregister_worker failed at shutdown", exc_info=True)
        if self._owns_storage and self._storage is not None:
            await self._storage.close()
        self._initialized = False
        if _current is self:
            _current = None

    async def _crash(self) -> None:
        """Stop as a killed process would: cancel everything, write nothing (see ``edda.testing.simulate_crash``)."""
        global _current
        self._stopped = True
        everything = [*self._background, *self._tasks.values()]
        for run in self._runs.values():
            run.cancel_timers()
            if run._flush_task is not None:
                everything.append(run._flush_task)
        for task in everything:
            task.cancel()
        await asyncio.gather(*everything, return_exceptions=True)
        self._runs.clear()
        self._tasks.clear()
        self._initialized = False
        if _current is self:
            _current = None
        if self._owns_storage and self._storage is not None:
            # A dead process's connections are closed by the OS; do the same so nothing lingers in this one.
            await self._storage.close()

    async def __aenter__(self) -> EddaApp:
        await self.initialize()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown()

    def _require(self) -> Engine:
        if self._engine is None or not self._initialized:
            raise RuntimeError("EddaApp is not initialized: `await app.initialize()` first.")
        return self._engine

    # -- starting and running -----------------------------------------------------------------------------------

    async def start_workflow(
        self,
        wf: Workflow | str,
        kwargs: dict[str, Any] | None = None,
        *,
        instance_id: str | None = None,
        lock_timeout_seconds: float | None = None,
    ) -> str:
        """Start ``wf`` (a workflow or its name) with ``kwargs`` as input; returns the instance id.

        See :meth:`edda.Workflow.start`.
        """
        self._require()
        workflow = self._workflow(wf)
        stored_input = workflow.prepare_input(dict(kwargs or {}))
        if instance_id is None:
            instance_id = self.ids.new_id()
        elif not isinstance(instance_id, str) or not instance_id or len(instance_id) > _MAX_INSTANCE_ID:
            raise ValueError(f"instance_id must be a non-empty string of at most {_MAX_INSTANCE_ID} characters")
        lease = lock_timeout_seconds or workflow.lock_timeout_seconds
        now = self.clock.now()
        record, created = await self.storage.create_instance(
            NewInstance(
                instance_id=instance_id,
                workflow_name=workflow.name,
                input_data=stored_input,
                owner_id=self.worker_id,
                now=now,
                lease_expires_at=now + timedelta(seconds=lease or self.lease_timeout_seconds),
                lock_timeout_seconds=lease,
            )
        )
        if not created:
            if record.workflow_name != workflow.name:
                raise WorkflowStateError(
                    f"Instance id {instance_id!r} is already used by workflow {record.workflow_name!r}; "
                    f"choose another id to start {workflow.name!r}.",
                    instance_id=instance_id,
                    status=record.status,
                )
            return instance_id
        await self._engine.hook("on_workflow_start", instance_id, workflow.name, record.input_data)  # type: ignore
        self._spawn(workflow, record, [])
        return instance_id

    def _workflow(self, wf: Workflow | str) -> Workflow:
        if isinstance(wf, Workflow):
            return wf
        found = get_workflow(wf)
        if found is None:
            raise WorkflowNotFoundError(
                f"No workflow named {wf!r} is registered in this process (import the module that defines it)."
            )
        return found

    def _spawn(self, wf: Workflow, record: InstanceRecord, history: list[Any] | None) -> None:
        task = asyncio.create_task(self._run_task(wf, record, history), name=f"edda-run-{record.instance_id}")
        self._tasks[record.instance_id] = task

    async def _run_task(self, wf: Workflow, record: InstanceRecord, history: list[Any] | None) -> None:
        iid = record.instance_id
        try:
            await self._require().run(wf, record, history)
            self._faults.pop(iid, None)
        except StorageFault as fault:
            # Back off per instance (0.5 s doubling to 30 s) so that a fault that keeps recurring cannot spin.
            faults = self._faults[iid] = self._faults.get(iid, 0) + 1
            delay = min(0.5 * 2 ** (faults - 1), 30.0)
            logger.warning(
                "Storage failed while running instance %s (%s: %s); it will be retried from its history in %.1f s.",
                iid,
                type(fault.cause).__name__,
                fault.cause,
                delay,
            )
            asyncio.get_running_loop().call_soon(self._retry_later, iid, delay)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("Unexpected error while running instance %s; it will be resumed from its history", iid)
            asyncio.get_running_loop().call_soon(self._retry_later, iid, 1.0)
        finally:
            if self._tasks.get(iid) is asyncio.current_task():
                del self._tasks[iid]
                self._runs.pop(iid, None)
                if iid in self._rewake:
                    self._rewake.discard(iid)
                    asyncio.get_running_loop().call_soon(self._wake_instances, (iid,))

    def _retry_later(self, instance_id: str, delay: float) -> None:
        if self._stopped:
            return
        task = asyncio.create_task(self._retry(instance_id, delay), name=f"edda-retry-{instance_id}")
        self._background.append(task)
        task.add_done_callback(self._forget_background)

    def _forget_background(self, task: asyncio.Task[Any]) -> None:
        if task in self._background:
            self._background.remove(task)

    async def _retry(self, instance_id: str, delay: float) -> None:
        await asyncio.sleep(delay)
        try:
            started = await self.resume_workflow(instance_id)
        except StorageUnavailableError:
            started = False
            self._retry_later(instance_id, min(delay * 2, 5.0))
            return
        if not started:
            self._wake_recovery.set()

    def _register_run(self, run: RunState) -> None:
        self._runs[run.instance_id] = run

    def _notify_finished(self, instance_id: str) -> None:
        for fut in self._waiters.pop(instance_id, []):
            if not fut.done():
                fut.set_result(None)

    def _on_suspended(self, instance_id: str) -> None:
        """A local run committed a wait: re-plan the recovery loop's next wake-up (the wait may be a timer)."""
        self._wake_recovery.set()

    def _on_storage_wake(self, instance_ids: tuple[str, ...] | list[str]) -> None:
        """Another process made work runnable: claim what it names. No names (e.g. after the notification channel
        was lost, so wake-ups may have been missed): run a recovery pass now, which also re-plans timers."""
        if instance_ids:
            self._wake_instances(instance_ids, announce=False)  # never echo another process's wake-up back
        else:
            self._wake_recovery.set()

    def _wake_instances(self, instance_ids: tuple[str, ...] | list[str], *, announce: bool = True) -> None:
        """Instances made runnable by a message this process committed: resume them here at once.

        Other processes are told (``announce``: PostgreSQL NOTIFY) only about those this process could not take:
        held by another live worker, or a workflow this process does not define. That keeps a notification and
        a competing claim off the common path, where the committing process runs the instance itself."""
        if self._stopped:
            if announce:
                self._announce(tuple(instance_ids))
            return
        for iid in instance_ids:
            if iid in self._tasks:
                # Still running here, perhaps just past committing the wait it was woken from: try again once this
                # run has let go (if another worker has claimed it by then, the claim just fails).
                self._rewake.add(iid)
                continue
            task = asyncio.ensure_future(self._resume_quietly(iid, announce))
            self._background.append(task)
            task.add_done_callback(self._forget_background)

    def _announce(self, instance_ids: tuple[str, ...]) -> None:
        announce = getattr(self._storage, "announce_wake", None)
        if instance_ids and callable(announce):
            announce(instance_ids)

    async def _resume_quietly(self, instance_id: str, announce: bool = False) -> None:
        try:
            outcome = await self._claim_and_start(instance_id, announce_release=announce)
        except StorageUnavailableError:
            self._wake_recovery.set()
            outcome = _NOT_CLAIMED
        if announce and outcome == _NOT_CLAIMED:
            self._announce((instance_id,))

    async def resume_workflow(self, instance_id: str) -> bool:
        """Claim and run ``instance_id`` on this worker now, unless it is finished, running here, or held by a
        live worker. Returns whether it was started."""
        return await self._claim_and_start(instance_id) == _STARTED

    async def _claim_and_start(self, instance_id: str, *, announce_release: bool = False) -> str:
        self._require()
        if instance_id in self._tasks or instance_id in self._claiming:
            return _HERE
        self._claiming.add(instance_id)
        try:
            now = self.clock.now()
            record = await self.storage.claim_instance(
                instance_id, worker_id=self.worker_id, now=now, lease_expires_at=now + self._lease_for(None)
            )
        finally:
            self._claiming.discard(instance_id)
        if record is None:
            return _NOT_CLAIMED
        if instance_id in self._tasks:
            return _HERE
        if self._start_claimed(record, announce_release=announce_release):
            return _STARTED
        return _RELEASED

    def _lease_for(self, record: InstanceRecord | None) -> timedelta:
        seconds = (record.lock_timeout_seconds if record is not None else None) or self.lease_timeout_seconds
        return timedelta(seconds=seconds)

    def _start_claimed(
        self, record: InstanceRecord, *, announce_release: bool = False, history: list[Any] | None = None
    ) -> bool:
        wf = get_workflow(record.workflow_name)
        if wf is None:
            logger.warning(
                "Instance %s needs workflow %r, which this process does not define; releasing it for "
                "a worker that does.",
                record.instance_id,
                record.workflow_name,
            )
            task = asyncio.ensure_future(self._release(record, announce=announce_release))
            self._background.append(task)
            task.add_done_callback(self._forget_background)
            return False
        self._spawn(wf, record, history)
        return True

    async def _release(self, record: InstanceRecord, *, announce: bool = False) -> None:
        """Give up the lease of an instance this process cannot run; ``announce``: then tell other processes."""
        try:
            await self.storage.commit_step(
                StepCommit(
                    fence=Fence(record.instance_id, self.worker_id, record.lease_epoch),
                    now=self.clock.now(),
                    update=InstanceUpdate(release_lease=True),
                )
            )
        except (LeaseLostError, StorageUnavailableError):
            return
        if announce:
            self._announce((record.instance_id,))

    # -- background work ----------------------------------------------------------------------------------------

    def _batch_size(self) -> int:
        """Instances to claim in the next recovery pass: the int given, or for ``"auto"`` 10 doubling up to 100
        while passes come back full (a backlog: due timers in a burst, a dead worker's instances), back to 10 when
        one does not. ``"auto:cpu"`` caps that by the CPU headroom (1-minute load average per core)."""
        batch = self.max_workflows_per_batch
        if isinstance(batch, int):
            return batch
        size = self._auto_batch
        if batch == "auto:cpu":
            size = min(size, _cpu_headroom_batch())
        return size

    def _adapt_batch(self, limit: int, claimed: int) -> None:
        if not isinstance(self.max_workflows_per_batch, int):
            self._auto_batch = min(limit * 2, _AUTO_BATCH_MAX) if claimed >= limit else _AUTO_BATCH_MIN

    async def _histories_of(self, claimed: list[InstanceRecord]) -> dict[str, list[Any]] | None:
        """The histories of a claimed batch in one read, if the storage can (else each run reads its own)."""
        get_histories = getattr(self.storage, "get_histories", None)
        if len(claimed) < 2 or not callable(get_histories):
            return None
        try:
            return await get_histories([r.instance_id for r in claimed])
        except StorageUnavailableError:
            return None  # each run reads (and retries) its own

    async def _recovery_loop(self) -> None:
        while not self._stopped:
            try:
                now = self.clock.now()
                limit = self._batch_size()
                claimed = await self.storage.claim_runnable(
                    worker_id=self.worker_id,
                    now=now,
                    lease_expires_at=now + self._lease_for(None),
                    limit=limit,
                )
                histories = await self._histories_of(claimed)
                for record in claimed:
                    # A resume_workflow of this process claiming the same instance concurrently gets the newer
                    # lease epoch and starts the run; starting it here too would run it twice.
                    if record.instance_id not in self._tasks and record.instance_id not in self._claiming:
                        history = None if histories is None else histories.get(record.instance_id, [])
                        # announce_release: if this process does not define the workflow, the release is followed
                        # by a wake-up for the processes that may (a release by a wake-up's own claim may have
                        # come first, and its NOTIFY found the instance still leased here).
                        self._start_claimed(record, history=history, announce_release=True)
                self._adapt_batch(limit, len(claimed))
                if len(claimed) >= limit:
                    await asyncio.sleep(0)
                    continue
            except asyncio.CancelledError:
                raise
            except StorageUnavailableError as exc:
                logger.warning("Recovery pass could not reach the database: %s", exc)
            except Exception:
                logger.exception("Recovery pass failed")
            delay = await self._next_pass_delay()
            try:
                await asyncio.wait_for(self._wake_recovery.wait(), timeout=delay)
            except TimeoutError:
                pass
            self._wake_recovery.clear()

    async def _next_pass_delay(self) -> float:
        """Sleep until the next due timer (an in-process wake-up, not a polling interval), at most
        ``recovery_interval``."""
        delay = self.recovery_interval
        try:
            due = await self.storage.next_wake_at()
        except Exception:
            return delay
        if due is not None:
            delay = min(delay, max(0.0, (due - self.clock.now()).total_seconds()))
        return delay

    async def _cleanup_loop(self) -> None:
        """Delete delivered channel messages older than ``message_retention_days`` (hourly; idempotent, so every
        worker may run it and no leader is needed)."""
        while not self._stopped:
            try:
                cutoff = self.clock.now() - timedelta(days=self.message_retention_days)
                removed = await self.storage.cleanup_messages(older_than=cutoff)
                if removed:
                    logger.info(
                        "Deleted %d delivered channel message(s) older than %s days",
                        removed,
                        self.message_retention_days,
                    )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("Message cleanup failed: %s", exc)
            await asyncio.sleep(3600)

    async def _heartbeat_loop(self) -> None:
        interval = max(0.05, self.lease_timeout_seconds / 3)
        while not self._stopped:
            await asyncio.sleep(interval)
            runs = list(self._runs.values())
            if not runs:
                continue
            try:
                renewed = await self.storage.renew_leases(
                    [r.fence for r in runs], lease_expires_at=self.clock.now() + self._lease_for(None)
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("Lease heartbeat failed: %s", exc)
                continue
            for run in runs:
                if run.instance_id not in renewed and self._runs.get(run.instance_id) is run:
                    task = self._tasks.get(run.instance_id)
                    if task is not None:
                        logger.warning("Lost the lease of instance %s; stopping its run here.", run.instance_id)
                        task.cancel()

    # -- reading state ------------------------------------------------------------------------------------------

    async def get_instance(self, instance_id: str) -> InstanceRecord | None:
        """The stored instance (``record.status``, ``record.output_data``, ...) or ``None``."""
        return await self.storage.get_instance(instance_id)

    async def wait_for_result(self, instance_id: str, *, timeout: float | None = None) -> Any:
        """Wait until the instance finishes and return its result (restored per the return annotation).

        Raises:
            WorkflowNotFoundError: no such instance.
            WorkflowFailedError: it failed (``error_type`` and ``error_message`` say why).
            WorkflowCancelledException: it was cancelled.
            TimeoutError: ``timeout`` seconds passed first.
        """
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        poll = 0.01
        while True:
            fut: asyncio.Future[None] = loop.create_future()
            self._waiters.setdefault(instance_id, []).append(fut)
            record = await self.storage.get_instance(instance_id)
            if record is None:
                raise WorkflowNotFoundError(f"No workflow instance {instance_id!r}")
            if record.status in FINISHED_STATUSES:
                self._drop_waiter(instance_id, fut)
                return self._result_of(record)
            wait = poll if deadline is None else min(poll, deadline - loop.time())
            if wait <= 0:
                self._drop_waiter(instance_id, fut)
                raise TimeoutError(
                    f"Workflow instance {instance_id!r} did not finish within {timeout} s (status {record.status!r})"
                )
            try:
                await asyncio.wait_for(asyncio.shield(fut), timeout=wait)
            except TimeoutError:
                poll = min(poll * 2, 0.5)
            self._drop_waiter(instance_id, fut)

    def _drop_waiter(self, instance_id: str, fut: asyncio.Future[None]) -> None:
        waiters = self._waiters.get(instance_id)
        if waiters and fut in waiters:
            waiters.remove(fut)
            if not waiters:
                del self._waiters[instance_id]

    def _result_of(self, record: InstanceRecord) -> Any:
        if record.status == InstanceStatus.COMPLETED:
            wf = get_workflow(record.workflow_name)
            return wf.load_result(record.output_data) if wf is not None else record.output_data
        if record.status == InstanceStatus.CANCELLED:
            raise WorkflowCancelledException(f"Workflow instance {record.instance_id!r} was cancelled")
        error = record.error or {}
        raise WorkflowFailedError(record.instance_id, error.get("error_type", "Error"), error.get("message", ""))

    # -- cancelling ---------------------------------------------------------------------------------------------

    async def cancel_workflow(self, instance_id: str) -> None:
        """Cancel an instance: it stops at its next step, its compensations run, and it ends ``cancelled``.

        An instance that is waiting or idle is cancelled before this returns; one running on some worker is
        cancelled by that worker at its next step.

        Raises:
            WorkflowNotFoundError: no such instance.
            WorkflowStateError: it already finished (``completed``, ``failed`` or ``cancelled``).
        """
        self._require()
        record = await self.storage.request_cancel(instance_id, now=self.clock.now())
        if record is None:
            raise WorkflowNotFoundError(f"No workflow instance {instance_id!r}")
        if record.status in FINISHED_STATUSES:
            raise WorkflowStateError(
                f"Workflow instance {instance_id!r} already finished with status {record.status!r}; only running or "
                f"waiting instances can be cancelled.",
                instance_id=instance_id,
                status=record.status,
            )
        run = self._runs.get(instance_id)
        if run is not None:
            run.cancel_requested = True
            return
        if await self.resume_workflow(instance_id):
            task = self._tasks.get(instance_id)
            if task is not None:
                await asyncio.shield(task)

    # -- queries ------------------------------------------------------------------------------------------------

    async def find_instances(
        self,
        *,
        input_filters: dict[str, Any] | None = None,
        status: str | None = None,
        workflow_name: str | None = None,
        instance_id: str | None = None,
        started_after: datetime | None = None,
        started_before: datetime | None = None,
        limit: int = 50,
        page_token: str | None = None,
    ) -> dict[str, Any]:
        """Find instances, newest first.

        Args:
            input_filters: ``{"order_id": "ORD-1", "customer.id": "C-4"}``: exact matches on input values; keys are
                dotted paths of identifiers, values str/int/float/bool.
            status: exact status (``running``, ``completed``, ...).
            workflow_name / instance_id: case-insensitive substring.
            started_after / started_before: inclusive bounds (timezone-aware).
            limit: page size, 1 to 1000.
            page_token: ``next_page_token`` of the previous page.

        Returns:
            ``{"instances": [...], "next_page_token": str | None, "has_more": bool}``.

        Raises:
            ValueError: a filter is malformed (the message says which and why).
        """
        filters: list[tuple[str, Any]] = []
        for key, value in (input_filters or {}).items():
            if not isinstance(key, str) or not _FILTER_KEY.match(key):
                raise ValueError(f"input_filters key {key!r} must be a dotted path of identifiers like 'customer.id'")
            if not isinstance(value, str | int | float | bool):
                raise ValueError(
                    f"input_filters[{key!r}] must be a str, int, float or bool, got {type(value).__name__}"
                )
            filters.append((key, value))
        if status is not None and status not in ALL_STATUSES:
            choices = ", ".join(sorted(ALL_STATUSES))
            raise ValueError(f"status {status!r} is not a workflow status; use one of {choices}")
        for name, value in (("workflow_name", workflow_name), ("instance_id", instance_id)):
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{name} must be a string")
        for name, value in (("started_after", started_after), ("started_before", started_before)):
            if value is not None and (not isinstance(value, datetime) or value.tzinfo is None):
                raise ValueError(f"{name} must be a timezone-aware datetime (e.g. datetime.now(UTC))")
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 1000:
            raise ValueError(f"limit must be an int from 1 to 1000, got {limit!r}")
        page = await self.storage.find_instances(
            InstanceQuery(
                status=status,
                workflow_name=workflow_name,
                instance_id=instance_id,
                started_after=started_after,
                started_before=started_before,
                input_filters=tuple(filters),
                limit=limit,
                cursor=_decode_page_token(page_token) if page_token else None,
            )
        )
        token = _encode_page_token(page.next_cursor) if page.next_cursor else None
        return {"instances": page.instances, "next_page_token": token, "has_more": token is not None}

    # -- messages and events ------------------------------------------------------------------------------------

    async def publish_message(self, message: NewMessage) -> tuple[ChannelMessageRecord, tuple[str, ...]]:
        """Store a channel message durably and resume the receivers it wakes that this process can run."""
        record, woken = await self.storage.publish(message, now=self.clock.now())
        self._wake_instances(woken)
        return record, woken

    def on_event(self, event_type: str, proto_type: type[Any] | None = None) -> Any:
        """Register ``handler(event)`` to be called for every CloudEvent of ``event_type`` this app handles.

        Example::

            @app.on_event("order.created")
            async def handle_order_created(event):
                await order_workflow.start(order_id=event.get_data()["order_id"])
        """
        if not isinstance(event_type, str) or not event_type:
            raise ValueError("on_event() needs a non-empty event type")

        def decorator(handler: Any) -> Any:
            self._event_handlers.setdefault(event_type, []).append(handler)
            return handler

        return decorator

    async def handle_cloudevent(self, event: Any, wait: bool = False) -> None:
        """Deliver a CloudEvent: to every workflow waiting for its type (or only to the instance named by its
        ``eddainstanceid`` extension), to ``@workflow(event_handler=True)`` workflows named like the type (started
        with the event's data as input) and to ``on_event`` handlers.

        The event is durably stored before this returns, so it takes effect even if the process dies right after.
        Handlers and workflow starts run as background tasks unless ``wait=True``.

        Raises:
            ValueError: the event lacks ``type``, ``source`` or ``id``, or its data cannot be stored.
        """
        from edda._events import cloudevent_parts
        from edda._registry import all_workflows

        self._require()
        core, extensions, data = cloudevent_parts(event)
        target = extensions.get("eddainstanceid")
        metadata = dict(core) | {"extensions": extensions}
        message = NewMessage(
            message_id=self.ids.new_id(),
            channel=core["type"],
            data=to_storable(data, path="event data"),
            metadata=to_storable(metadata),
            target_instance_id=str(target) if target else None,
        )
        await self.publish_message(message)
        jobs = [self._call_event_handler(h, event) for h in self._event_handlers.get(core["type"], [])]
        for wf in all_workflows().values():
            if wf.event_handler and wf.name == core["type"]:
                jobs.append(self._start_from_event(wf, data, core["id"]))
        if not jobs:
            return
        if wait:
            await asyncio.gather(*jobs)
            return
        for job in jobs:
            task = asyncio.ensure_future(job)
            self._background.append(task)
            task.add_done_callback(self._forget_background)

    async def _call_event_handler(self, handler: Any, event: Any) -> None:
        try:
            result = handler(event)
            if inspect.isawaitable(result):
                await result
        except Exception:
            logger.exception("on_event handler %r failed", handler)

    async def _start_from_event(self, wf: Workflow, data: Any, event_id: str) -> None:
        try:
            kwargs = dict(data) if isinstance(data, dict) else {"data": data}
            await self.start_workflow(wf, kwargs)
        except Exception:
            logger.exception("Starting workflow %r from event %s failed", wf.name, event_id)

    # -- HTTP -----------------------------------------------------------------------------------------------------

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """ASGI entry point, provided by the ``edda-asgi`` package."""
        if self._asgi is None:
            try:
                from edda_asgi import create_asgi_app  # pyright: ignore[reportMissingImports]
            except ImportError as exc:
                raise ImportError(
                    "Serving an EddaApp over HTTP (ASGI) needs the edda-asgi package: pip install edda-asgi"
                ) from exc
            self._asgi = create_asgi_app(self)
        await self._asgi(scope, receive, send)


def _encode_page_token(cursor: tuple[datetime, str]) -> str:
    raw = json.dumps({"t": cursor[0].isoformat(), "i": cursor[1]}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_page_token(token: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        moment = datetime.fromisoformat(data["t"])
        if moment.tzinfo is None or not isinstance(data["i"], str):
            raise ValueError
        return moment, data["i"]
    except Exception:
        raise ValueError(
            "page_token is not a token returned by find_instances(); pass next_page_token unchanged"
        ) from None
