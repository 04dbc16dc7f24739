"""The worker: claims instances, runs them, and keeps its background loops (recovery, heartbeat, cleanup).

It hosts runs (implements :class:`edda._run.RunHost`): a run reports its commits, waits and ends here, and the
worker turns them into wake-ups of other instances, relayer nudges and finished-notifications. The app
(:mod:`edda._app`) is a facade over one worker.

Longer than 500 lines: the runs, the claims in flight and the background loops share their bookkeeping (``tasks``,
``runs``, the claims being made), which splitting the module would have to expose between its parts.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from edda._admission import Admission, Slot, current_slot
from edda._backoff import (
    AUTO_BATCH_MAX,
    AUTO_BATCH_MIN,
    Backoff,
    LogThrottle,
    PassPacer,
    cpu_headroom_batch,
    failure_key,
)
from edda._engine import Engine
from edda._hookcall import call_hook
from edda._retention import delete_expired_instances
from edda._run import RunState, StorageFault
from edda._settings import AppSettings
from edda._workflow import Workflow, get_workflow, workflow_names
from edda.clock import Clock, IdSource
from edda.exceptions import LeaseLostError, StorageUnavailableError
from edda.retry import RetryPolicy
from edda.storage.protocol import ClaimsByWorkflow, HistoryBatchReader, Storage, WakeAnnouncer, WakeSource
from edda.storage.records import Fence, HistoryEvent, InstanceRecord, InstanceUpdate, StepCommit

__all__ = ["Worker"]

logger = logging.getLogger("edda")

# What an attempt to claim and start an instance here came to (Worker._claim_and_start).
_STARTED, _HERE, _NOT_CLAIMED, _RELEASED = "started", "running here", "not claimed", "released"
_CLEANUP_EVERY_SECONDS = 3600
_RUNS_AT_ONCE = 1000  # runs a worker takes on through wake-ups and recovery passes before the rest wait
_RELEASED_STREAK = 1000  # instances of other services claimed and released in a row before passes slow down
_RECOVERY_BACKOFF_CAP = 10.0  # seconds: the longest wait between failing recovery passes
_FAULT = "Storage failed while running instance %s (%s: %s); it will be retried from its history in %.1f s."
_UNEXPECTED = "Unexpected error while running instance %s; it will be resumed from its history"


class Worker:
    """Runs the instances of one app against its storage.

    Args:
        storage: the opened storage.
        settings: the app's options.
        clock, ids: time and ids.
        worker_id: this worker's id (in every fence).
        hooks: lifecycle hooks, or ``None``.
        deliver_event: the app's local delivery of a CloudEvent (``send_event`` without a broker).
    """

    def __init__(
        self,
        storage: Storage,
        settings: AppSettings,
        *,
        clock: Clock,
        ids: IdSource,
        worker_id: str,
        hooks: Any,
        deliver_event: Callable[[dict[str, Any]], Awaitable[None]],
    ) -> None:
        self.storage = storage
        self.settings = settings
        self.clock = clock
        self.ids = ids
        self.worker_id = worker_id
        self.hooks = hooks
        self.default_retry_policy: RetryPolicy = settings.default_retry_policy
        self.broker_url = settings.broker_url
        self._deliver_event = deliver_event
        self.engine = Engine(self)
        self.admission = Admission()  # runs executing engine work at once; the others wait their turn (FIFO)
        self.tasks: dict[str, asyncio.Task[None]] = {}  # the runs of this worker, by instance id
        self.runs: dict[str, RunState] = {}
        # Instances this process is claiming right now (between the check of `tasks` and the claim's answer): a
        # second claim from this process in that window would bump the lease epoch and start a second run.
        self._claiming: set[str] = set()
        self._auto_batch = AUTO_BATCH_MIN  # the next pass's claim size under max_workflows_per_batch="auto"
        self._rewake: set[str] = set()  # woken while still running here: resume again when that run ends
        self._backlog: deque[tuple[str, bool]] = deque()  # woken, waiting for room (see _busy)
        self._resuming = 0  # resumes from wake-ups in flight (claim, then start)
        self._paused = False  # a recovery pass found no room
        self._only_foreign = False  # the last passes claimed only instances this process had to release, again
        self._released: set[str] = set()  # what passes claimed and released since one claimed something to run
        self._faults: dict[str, int] = {}  # consecutive storage faults per instance, for the retry backoff
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._background: list[asyncio.Task[Any]] = []
        self._wake_recovery = asyncio.Event()
        self.outbox_wake = asyncio.Event()  # set when outbox rows are committed: the relayer's nudge
        self._notifications = False  # the storage pushes other processes' wake-ups (e.g. LISTEN/NOTIFY)
        self.log = LogThrottle(logger)  # one line per distinct failure per minute
        # After a failed recovery pass: wait, doubling from recovery_interval to at least 10 s (with jitter).
        backoff = Backoff(settings.recovery_interval, max(settings.recovery_interval, _RECOVERY_BACKOFF_CAP))
        self.pass_pacer = PassPacer("Recovery pass", backoff, self.log, StorageUnavailableError)
        self.stopped = False

    # -- RunHost ------------------------------------------------------------------------------------------------

    @property
    def has_hooks(self) -> bool:
        return self.hooks is not None

    async def hook(self, name: str, *args: Any) -> None:
        if self.hooks is not None:
            await call_hook(self.hooks, name, *args)

    def started(self, run: RunState) -> None:
        self.runs[run.instance_id] = run

    def committed(self, woken: tuple[str, ...], *, outbox: bool) -> None:
        if woken:
            self.wake(woken)
        if outbox:
            self.outbox_wake.set()

    def suspended(self, instance_id: str) -> None:
        """A local run committed a wait: re-plan the recovery loop's next wake-up (the wait may be a timer)."""
        self._wake_recovery.set()

    def finished(self, instance_id: str) -> None:
        for fut in self._waiters.pop(instance_id, []):
            if not fut.done():
                fut.set_result(None)

    async def deliver_event(self, event: dict[str, Any]) -> None:
        await self._deliver_event(event)

    # -- lifecycle ----------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Register with the storage and start the background loops (a client's worker, ``run_workflows=False``,
        stays stopped: it only announces wake-ups to the other processes)."""
        if not self.settings.run_workflows:
            self.stopped = True
            return
        if getattr(self.storage.capabilities, "single_process_takeover", False):
            # Only one process may use this database, so leases held by anyone else belong to a dead process.
            released = await self.storage.release_foreign_leases(worker_id=self.worker_id)
            if released:
                logger.info("Took over %d instance(s) left by a previous process", released)
        await self.storage.register_worker(self.worker_id)
        if isinstance(self.storage, WakeSource):  # e.g. PostgreSQL LISTEN/NOTIFY: other processes' wake-ups reach us
            self.storage.set_wake_callback(self._on_storage_wake)
            self._notifications = True
        self.stopped = False
        self._background = [
            asyncio.create_task(self._recovery_loop(), name="edda-recovery"),
            asyncio.create_task(self._heartbeat_loop(), name="edda-heartbeat"),
            asyncio.create_task(self._cleanup_loop(), name="edda-cleanup"),
        ]

    async def stop_background(self) -> None:
        self.stopped = True
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)

    async def stop(self) -> None:
        """Stop the runs of this worker and release their leases, so that other workers resume them at once."""
        tasks = list(self.tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for run in list(self.runs.values()):
            try:
                run.cancel_timers()
                await run.flush(InstanceUpdate(release_lease=True))
            except (LeaseLostError, StorageFault, StorageUnavailableError):
                pass
            except Exception:
                logger.exception("Releasing instance %s at shutdown failed", run.instance_id)
        self.runs.clear()
        self.tasks.clear()
        if not self.settings.run_workflows:
            return  # a client never registered
        try:
            await self.storage.unregister_worker(self.worker_id)
        except Exception:
            logger.debug("unregister_worker failed at shutdown", exc_info=True)

    async def crash(self) -> None:
        """Stop as a killed process would: cancel everything, write nothing."""
        self.stopped = True
        everything = [*self._background, *self.tasks.values()]
        for run in self.runs.values():
            run.cancel_timers()
            if run.flush_task is not None:
                everything.append(run.flush_task)
        for task in everything:
            task.cancel()
        await asyncio.gather(*everything, return_exceptions=True)
        self.runs.clear()
        self.tasks.clear()

    def spawn_background(self, job: Awaitable[Any]) -> None:
        """Run ``job`` in the background, keeping a reference until it is done (cancelled at shutdown)."""
        task = asyncio.ensure_future(job)
        self._background.append(task)
        task.add_done_callback(self._forget_background)

    def _forget_background(self, task: asyncio.Task[Any]) -> None:
        if task in self._background:
            self._background.remove(task)

    # -- running ------------------------------------------------------------------------------------------------

    def spawn(self, wf: Workflow, record: InstanceRecord, history: list[HistoryEvent] | None) -> None:
        """Run ``record`` (claimed by this worker) in a task of its own."""
        task = asyncio.create_task(self._run_task(wf, record, history), name=f"edda-run-{record.instance_id}")
        self.tasks[record.instance_id] = task

    async def _run_task(self, wf: Workflow, record: InstanceRecord, history: list[HistoryEvent] | None) -> None:
        iid = record.instance_id
        slot: Slot | None = None
        try:
            slot = await self.admission.enter()
            current_slot.set(slot)
            await self.engine.run(wf, record, history)
            self._faults.pop(iid, None)
        except (StorageFault, StorageUnavailableError) as fault:  # in a step, or reading the history first
            # Back off per instance (0.5 s doubling to 30 s) so that a fault that keeps recurring cannot spin.
            faults = self._faults[iid] = self._faults.get(iid, 0) + 1
            delay = min(0.5 * 2 ** (faults - 1), 30.0)
            cause = fault.cause if isinstance(fault, StorageFault) else fault
            self.log.log(logging.WARNING, failure_key("run", cause), _FAULT, iid, type(cause).__name__, cause, delay)
            asyncio.get_running_loop().call_soon(self._retry_later, iid, delay)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.log.log(logging.ERROR, failure_key("run-unexpected", exc), _UNEXPECTED, iid, exc_info=True)
            asyncio.get_running_loop().call_soon(self._retry_later, iid, 1.0)
        finally:
            if slot is not None:
                slot.close()
            if self.tasks.get(iid) is asyncio.current_task():
                del self.tasks[iid]
                self.runs.pop(iid, None)
                if iid in self._rewake:
                    self._rewake.discard(iid)
                    asyncio.get_running_loop().call_soon(self.wake, (iid,))
                self._drain_backlog()
                if self._paused and not self._busy():
                    self._paused = False
                    self._wake_recovery.set()

    async def start_created(self, wf: Workflow, record: InstanceRecord) -> None:
        """Run an instance ``start()`` just created (a client's worker only tells the other processes). Until its
        run is spawned it counts as claimed here, so a retried start of the same id does not spawn it too."""
        iid = record.instance_id
        self._claiming.add(iid)
        try:
            await self.hook("on_workflow_start", iid, wf.name, record.input_data)
            if self.settings.run_workflows:
                self.spawn(wf, record, [])
            else:
                self.wake((iid,))
        finally:
            self._claiming.discard(iid)

    def idle_here(self, instance_id: str) -> bool:
        """Whether nothing here runs, starts or claims ``instance_id`` (a start's own spawn follows its create)."""
        return instance_id not in self.tasks and instance_id not in self._claiming

    def _retry_later(self, instance_id: str, delay: float) -> None:
        if not self.stopped:
            self.spawn_background(self._retry(instance_id, delay))

    async def _retry(self, instance_id: str, delay: float) -> None:
        await asyncio.sleep(delay)
        try:
            started = await self.resume(instance_id)
        except StorageUnavailableError:
            self._retry_later(instance_id, min(delay * 2, 5.0))
            return
        if not started:
            self._wake_recovery.set()

    async def resume(self, instance_id: str) -> bool:
        """Claim and run ``instance_id`` here now, unless it is finished, running here, or held by a live worker.
        Returns whether it was started. A client's worker starts nothing: it tells the other processes."""
        if not self.settings.run_workflows:
            self._announce((instance_id,))
            return False
        return await self._claim_and_start(instance_id) == _STARTED

    async def _claim_and_start(self, instance_id: str, *, announce_release: bool = False) -> str:
        if instance_id in self.tasks or instance_id in self._claiming:
            return _HERE
        self._claiming.add(instance_id)
        try:
            now = self.clock.now()
            record = await self.storage.claim_instance(
                instance_id, worker_id=self.worker_id, now=now, lease_expires_at=now + self.lease_for(None)
            )
        finally:
            self._claiming.discard(instance_id)
        if record is None:
            return _NOT_CLAIMED
        if instance_id in self.tasks:
            return _HERE
        if self._start_claimed(record, announce_release=announce_release):
            return _STARTED
        return _RELEASED

    def lease_for(self, record: InstanceRecord | None) -> timedelta:
        seconds = (record.lock_timeout_seconds if record is not None else None) or self.settings.lease_timeout_seconds
        return timedelta(seconds=seconds)

    def _start_claimed(
        self, record: InstanceRecord, *, announce_release: bool = False, history: list[HistoryEvent] | None = None
    ) -> bool:
        wf = get_workflow(record.workflow_name)
        if wf is None:
            logger.warning(
                "Instance %s needs workflow %r, which this process does not define; releasing it for "
                "a worker that does.",
                record.instance_id,
                record.workflow_name,
            )
            self.spawn_background(self._release(record, announce=announce_release))
            return False
        self.spawn(wf, record, history)
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

    # -- wake-ups -----------------------------------------------------------------------------------------------

    def _on_storage_wake(self, instance_ids: tuple[str, ...] | list[str]) -> None:
        """Another process made work runnable: claim what it names. No names (e.g. after the notification channel
        was lost, so wake-ups may have been missed): run a recovery pass now, which also re-plans timers."""
        if instance_ids:
            self.wake(instance_ids, announce=False)  # never echo another process's wake-up back
        else:
            self._wake_recovery.set()

    def wake(self, instance_ids: tuple[str, ...] | list[str], *, announce: bool = True) -> None:
        """Instances made runnable by a message this process committed: resume them here at once.

        Other processes are told (``announce``: PostgreSQL NOTIFY) only about those this process could not take:
        held by another live worker, or a workflow this process does not define. That keeps a notification and
        a competing claim off the common path, where the committing process runs the instance itself."""
        if self.stopped:
            if announce:
                self._announce(tuple(instance_ids))
            return
        for iid in instance_ids:
            if iid in self.tasks:
                # Still running here, perhaps just past committing the wait it was woken from: try again once this
                # run has let go (if another worker has claimed it by then, the claim just fails).
                self._rewake.add(iid)
                continue
            self._backlog.append((iid, announce))
        self._drain_backlog()

    def _busy(self) -> bool:
        """Whether this worker runs (or is starting) as many instances as it takes at once: what is woken beyond
        that waits in the backlog, and recovery passes pause, so a broadcast to 100,000 waiting instances does not
        put 100,000 runs in memory at once. Nothing is lost by waiting: the instances are runnable in the database."""
        return len(self.tasks) + self._resuming >= _RUNS_AT_ONCE

    def _drain_backlog(self) -> None:
        while self._backlog and not self._busy() and not self.stopped:
            iid, announce = self._backlog.popleft()
            if iid in self.tasks:
                self._rewake.add(iid)
                continue
            self._resuming += 1
            self.spawn_background(self._resume_quietly(iid, announce))

    def _announce(self, instance_ids: tuple[str, ...]) -> None:
        if instance_ids and isinstance(self.storage, WakeAnnouncer):
            self.storage.announce_wake(instance_ids)

    async def _resume_quietly(self, instance_id: str, announce: bool = False) -> None:
        try:
            outcome = await self._claim_and_start(instance_id, announce_release=announce)
        except StorageUnavailableError:
            self._wake_recovery.set()
            outcome = _NOT_CLAIMED
        finally:
            self._resuming -= 1
            self._drain_backlog()
        if announce and outcome == _NOT_CLAIMED:
            self._announce((instance_id,))

    def wake_recovery(self) -> None:
        """Run a recovery pass now (e.g. after a resume could not start an instance)."""
        self._wake_recovery.set()

    # -- waiting for results ------------------------------------------------------------------------------------

    def watch(self, instance_id: str) -> asyncio.Future[None]:
        """A future resolved when a run of this worker finishes ``instance_id`` (drop it with :meth:`unwatch`)."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(instance_id, []).append(fut)
        return fut

    def unwatch(self, instance_id: str, fut: asyncio.Future[None]) -> None:
        waiters = self._waiters.get(instance_id)
        if waiters and fut in waiters:
            waiters.remove(fut)
            if not waiters:
                del self._waiters[instance_id]

    # -- background loops ---------------------------------------------------------------------------------------

    def _batch_size(self) -> int:
        """Instances to claim in the next recovery pass: the int given, or for ``"auto"`` 10 doubling up to 100
        while passes come back full (a backlog: due timers in a burst, a dead worker's instances), back to 10 when
        one does not. ``"auto:cpu"`` caps that by the CPU headroom (1-minute load average per core)."""
        batch = self.settings.max_workflows_per_batch
        if isinstance(batch, int):
            return batch
        size = self._auto_batch
        if batch == "auto:cpu":
            size = min(size, cpu_headroom_batch())
        return size

    def _adapt_batch(self, limit: int, claimed: int) -> None:
        if not isinstance(self.settings.max_workflows_per_batch, int):
            self._auto_batch = min(limit * 2, AUTO_BATCH_MAX) if claimed >= limit else AUTO_BATCH_MIN

    async def _histories_of(self, claimed: list[InstanceRecord]) -> dict[str, list[HistoryEvent]] | None:
        """The histories of a claimed batch in one read, if the storage can (else each run reads its own)."""
        if len(claimed) < 2 or not isinstance(self.storage, HistoryBatchReader):
            return None
        try:
            return await self.storage.get_histories([r.instance_id for r in claimed])
        except StorageUnavailableError:
            return None  # each run reads (and retries) its own

    async def _recovery_pass(self) -> bool:
        """Claim and start a batch of instances that need a worker. Returns whether the batch came back full."""
        if self._busy():
            self._paused = True  # the run that brings us under the limit wakes the loop
            return False
        now = self.clock.now()
        limit = self._batch_size()
        lease_expires_at = now + self.lease_for(None)
        storage = self.storage
        if isinstance(storage, ClaimsByWorkflow):  # only what this process can run: other services' stay untouched
            claimed = await storage.claim_runnable_of(
                workflow_names(), worker_id=self.worker_id, now=now, lease_expires_at=lease_expires_at, limit=limit
            )
        else:
            claimed = await storage.claim_runnable(
                worker_id=self.worker_id, now=now, lease_expires_at=lease_expires_at, limit=limit
            )
        self._note_foreign(claimed)
        full = len(claimed) >= limit and not self._only_foreign
        self._adapt_batch(limit, 0 if self._only_foreign else len(claimed))
        if not full:
            await self._start_batch(claimed)
        else:  # more may be due (a burst of timers): claim the next batch while this one's histories load
            self.spawn_background(self._start_batch(claimed))
        return full

    def _note_foreign(self, claimed: list[InstanceRecord]) -> None:
        """A storage that claims every workflow's instances (no :class:`ClaimsByWorkflow`): passes that claimed only
        instances this process must release go on at once while they bring ones not seen yet (its own may be due
        behind them); once they bring only those seen, the next pass waits for the recovery interval. Without
        this, the released instances, still due, made every pass claim them again at once: a claim-release spin."""
        if not claimed or any(get_workflow(r.workflow_name) is not None for r in claimed):
            self._only_foreign = False
            self._released.clear()
            return
        ids = {r.instance_id for r in claimed}
        if len(self._released) >= _RELEASED_STREAK:  # enough gone through at once: one pass an interval from now on
            self._only_foreign = True
            return
        self._only_foreign = ids <= self._released
        self._released |= ids

    async def _start_batch(self, claimed: list[InstanceRecord]) -> None:
        histories = await self._histories_of(claimed)
        for record in claimed:
            # A resume of this process claiming the same instance concurrently gets the newer lease epoch and
            # starts the run; starting it here too would run it twice.
            if record.instance_id not in self.tasks and record.instance_id not in self._claiming:
                history = None if histories is None else histories.get(record.instance_id, [])
                # announce_release: a release (this process lacks the workflow) is followed by a wake-up for those
                # that may have it (a wake-up's own claim may have come first and found it still leased here).
                self._start_claimed(record, history=history, announce_release=True)

    async def _recovery_loop(self) -> None:
        while not self.stopped:
            try:
                full = await self._recovery_pass()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a database that refuses writes must not make this loop spin: back off
                await self.pass_pacer.failed(exc)
                continue
            self.pass_pacer.succeeded()
            if full:
                await asyncio.sleep(0)
                continue
            delay = await self._next_pass_delay()
            try:
                await asyncio.wait_for(self._wake_recovery.wait(), timeout=delay)
            except TimeoutError:
                pass
            self._wake_recovery.clear()

    async def _next_pass_delay(self) -> float:
        """Sleep until the next due timer (an in-process wake-up, not a polling interval), at most
        ``recovery_interval`` (``notify_fallback_interval`` when given and the storage pushes wake-ups)."""
        delay = self.settings.recovery_interval
        if self._notifications and self.settings.notify_fallback_interval is not None:
            delay = self.settings.notify_fallback_interval
        storage = self.storage
        try:
            if isinstance(storage, ClaimsByWorkflow):
                due = await storage.next_wake_at_of(workflow_names())
            else:
                due = await storage.next_wake_at()
        except Exception:
            return delay
        if due is not None:
            wait = (due - self.clock.now()).total_seconds()
            if wait <= 0 and self._only_foreign:
                return delay  # what is due is what the last pass had to release: another process's to run
            delay = min(delay, max(0.0, wait))
        return delay

    async def _cleanup_loop(self) -> None:
        """Delete channel messages older than ``message_retention_days`` that were delivered or that nobody can take
        (addressed to an unknown or finished instance); hourly, idempotent, so every worker may run it."""
        days = self.settings.message_retention_days
        while not self.stopped:
            try:
                removed = await self.storage.cleanup_messages(older_than=self.clock.now() - timedelta(days=days))
                if removed:
                    logger.info("Deleted %d channel message(s) older than %s days", removed, days)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.log.log(logging.WARNING, failure_key("cleanup", exc), "Message cleanup failed: %s", exc)
            await delete_expired_instances(self.storage, self.settings, self.clock)  # instance_retention_days
            await asyncio.sleep(_CLEANUP_EVERY_SECONDS)

    async def _heartbeat_loop(self) -> None:
        interval = max(0.05, self.settings.lease_timeout_seconds / 3)
        while not self.stopped:
            await asyncio.sleep(interval)
            runs = list(self.runs.values())
            if not runs:
                continue
            try:
                renewed = await self.storage.renew_leases(
                    [r.fence for r in runs], lease_expires_at=self.clock.now() + self.lease_for(None)
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.log.log(logging.WARNING, failure_key("heartbeat", exc), "Lease heartbeat failed: %s", exc)
                continue
            for run in runs:
                if run.instance_id not in renewed and self.runs.get(run.instance_id) is run:
                    task = self.tasks.get(run.instance_id)
                    if task is not None:
                        logger.warning("Lost the lease of instance %s; stopping its run here.", run.instance_id)
                        task.cancel()
