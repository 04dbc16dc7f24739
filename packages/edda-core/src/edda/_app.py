"""``EddaApp``: the facade users hold. It owns the storage and one :class:`edda._worker.Worker`, and offers the client
API: starting, finding, cancelling and waiting for instances, and delivering events."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any, cast

from edda import _client
from edda._dispatch import EventDispatcher
from edda._events import DEFAULT_BROKER_URL
from edda._outbox_admin import OutboxOperations, start_relayer
from edda._queries import ResultPoller, find_instances, wait_for_result
from edda._settings import AppSettings, BatchSize, OutboxOptions, check_leader_options
from edda._worker import Worker
from edda._workflow import Workflow, get_workflow
from edda.clock import Clock, IdSource, SystemClock, UuidIdSource
from edda.exceptions import WorkflowNotFoundError, WorkflowStateError
from edda.retry import RetryPolicy
from edda.storage import open_storage
from edda.storage.protocol import Storage
from edda.storage.records import (
    FINISHED_STATUSES,
    ChannelMessageRecord,
    InstanceRecord,
    NewInstance,
    NewMessage,
)

__all__ = ["DEFAULT_BROKER_URL", "EddaApp", "current_app"]

logger = logging.getLogger("edda")

_MAX_INSTANCE_ID = 255


def current_app() -> EddaApp:
    """The most recently initialized EddaApp of this process (what ``Workflow.start`` uses).

    Raises:
        RuntimeError: no app is initialized.
    """
    return cast(EddaApp, _client.current_client())


class EddaApp(OutboxOperations):
    """A worker of a service: runs workflows against a database and recovers abandoned ones.

    Args:
        service_name: name of the service (used in worker ids and logs).
        db_url: database URL: ``sqlite:///workflow.db`` (default ``sqlite:///edda.db``), ``postgresql://...``,
            ``mysql://...`` or ``memory://``. Ignored when ``storage`` is given.
        storage: a storage object to use instead of resolving ``db_url``.
        outbox_enabled: run the transactional outbox relayer (needs the ``edda-outbox`` package).
        broker_url: where the outbox relayer publishes CloudEvents; without it, outbox events go to the in-cluster
            Knative broker ingress ``http://broker-ingress.knative-eventing.svc.cluster.local`` (logged at start).
        outbox_options: the relayer's retries, backoff, batch size and timeouts (:class:`edda.outbox.OutboxOptions`;
            by default a failing event is retried with capped backoff until the broker takes it).
        hooks: lifecycle hooks (see :class:`edda.WorkflowHooks`).
        default_retry_policy: retry policy of activities that declare none.
        message_retention_days: how long delivered channel messages are kept.
        instance_retention_days: days after which finished instances and their history are deleted (``None``: never).
        pool_size, max_overflow, pool_timeout, pool_recycle, pool_pre_ping: SQL connection pool (not SQLite, memory).
        use_listen_notify: PostgreSQL LISTEN/NOTIFY wake-ups; ``None`` = on for PostgreSQL.
        notify_fallback_interval: seconds between safety-net recovery passes when the storage pushes wake-ups
            (PostgreSQL LISTEN/NOTIFY); ``None`` (default) = ``recovery_interval``.
        max_workflows_per_batch: instances claimed per recovery pass (int, ``"auto"`` or ``"auto:cpu"``).
        leader_heartbeat_interval, leader_lease_duration: accepted for 0.16 code; they have no effect (Edda elects
            no leader: every background duty is idempotent and runs on every worker) and warn when given.
        auto_migrate: apply schema migrations at ``initialize()``.
        lease_timeout_seconds: how long a worker keeps an instance without heartbeating; a dead worker's
            instances are resumed elsewhere after at most this long (sooner where death is detected directly).
        recovery_interval: seconds between passes that look for instances needing a worker.
        clock, id_source: injectable time and id sources (tests).
        worker_id: this worker's id (default: service name + a unique suffix).
        run_workflows: ``False`` makes this app a client only (a viewer, a CLI, a web front end that starts work
            for separate worker processes): it runs no workflow and no background loop and takes no lease.
            ``start_workflow`` stores the instance and wakes the workers (at once where the storage announces
            wake-ups, as PostgreSQL does; within their ``recovery_interval`` otherwise); ``cancel_workflow``
            records the request, and a worker that defines the workflow runs its compensations.
    """

    _relayer: Any = None  # the outbox relayer, when outbox_enabled
    _asgi: Any = None  # the ASGI app of edda-asgi, made on the first request

    def __init__(
        self,
        service_name: str = "edda",
        db_url: str | None = None,
        *,
        storage: Storage | None = None,
        outbox_enabled: bool = False,
        broker_url: str | None = None,
        outbox_options: OutboxOptions | None = None,
        hooks: Any = None,
        default_retry_policy: RetryPolicy | None = None,
        message_retention_days: int = 7,
        instance_retention_days: float | None = None,
        pool_size: int = 5,
        max_overflow: int = 10,
        pool_timeout: int = 30,
        pool_recycle: int = 3600,
        pool_pre_ping: bool = True,
        use_listen_notify: bool | None = None,
        notify_fallback_interval: float | None = None,
        max_workflows_per_batch: BatchSize = 10,
        leader_heartbeat_interval: int | None = None,
        leader_lease_duration: int | None = None,
        auto_migrate: bool = True,
        lease_timeout_seconds: float = 30.0,
        recovery_interval: float = 1.0,
        clock: Clock | None = None,
        id_source: IdSource | None = None,
        worker_id: str | None = None,
        run_workflows: bool = True,
    ) -> None:
        check_leader_options(leader_heartbeat_interval, leader_lease_duration)
        pool = {"pool_size": pool_size, "max_overflow": max_overflow, "pool_timeout": pool_timeout}
        pool |= {"pool_recycle": pool_recycle, "pool_pre_ping": pool_pre_ping, "auto_migrate": auto_migrate}
        pool |= {"use_listen_notify": use_listen_notify} if use_listen_notify is not None else {}
        self.settings = AppSettings(
            service_name=service_name,
            db_url=db_url if db_url is not None else ("sqlite:///edda.db" if storage is None else None),
            outbox_enabled=outbox_enabled,
            broker_url=broker_url,
            outbox_options=outbox_options or OutboxOptions(),
            default_retry_policy=default_retry_policy if default_retry_policy is not None else RetryPolicy(),
            message_retention_days=message_retention_days,
            instance_retention_days=instance_retention_days,
            use_listen_notify=use_listen_notify,
            notify_fallback_interval=notify_fallback_interval,
            max_workflows_per_batch=max_workflows_per_batch,
            auto_migrate=auto_migrate,
            lease_timeout_seconds=float(lease_timeout_seconds),
            recovery_interval=float(recovery_interval),
            run_workflows=run_workflows,
            storage_options=pool,
        )
        self.hooks = hooks
        self.clock: Clock = clock or SystemClock()
        self.ids: IdSource = id_source or UuidIdSource()
        self.worker_id = worker_id or f"{service_name}-{self.ids.new_id()}"
        self._storage, self._owns_storage = storage, storage is None
        self._worker: Worker | None = None
        self._results, self._events = ResultPoller(lambda: self.storage, lambda: self._worker), EventDispatcher(self)

    # -- options, as attributes (read-only views of the settings) -----------------------------------------------

    @property
    def service_name(self) -> str:
        return self.settings.service_name

    @property
    def db_url(self) -> str | None:
        return self.settings.db_url

    @property
    def broker_url(self) -> str | None:
        return self.settings.broker_url

    @property
    def outbox_enabled(self) -> bool:
        return self.settings.outbox_enabled

    @property
    def default_retry_policy(self) -> RetryPolicy:
        return self.settings.default_retry_policy

    # -- lifecycle ----------------------------------------------------------------------------------------------

    @property
    def storage(self) -> Storage:
        """The storage backend (read state with ``get_instance``, ``get_history``, ...)."""
        if self._storage is None:
            raise RuntimeError("The storage is opened by `await app.initialize()`; call it first.")
        return self._storage

    @property
    def worker(self) -> Worker:
        """This app's worker (its runs, claims and background loops).

        Raises:
            RuntimeError: the app is not initialized.
        """
        if self._worker is None:
            raise RuntimeError("EddaApp is not initialized: `await app.initialize()` first.")
        return self._worker

    async def initialize(self) -> None:
        """Open the storage (migrating the schema if needed), resume abandoned instances, start background work.
        Idempotent. Makes this app the process's current app (used by ``Workflow.start``)."""
        if self._worker is not None:
            return
        if self._storage is None:
            assert self.db_url is not None
            self._storage = open_storage(self.db_url, **self.settings.storage_options)
        await self._storage.initialize()
        worker = Worker(
            self._storage,
            self.settings,
            clock=self.clock,
            ids=self.ids,
            worker_id=self.worker_id,
            hooks=self.hooks,
            deliver_event=self.deliver_event,
        )
        await worker.start()
        self._events.attach(worker)
        self._worker = worker
        if self.outbox_enabled:
            self._relayer = await start_relayer(
                self._storage,
                self.broker_url,
                self.settings.outbox_options,
                wake_event=worker.outbox_wake,
                worker_id=self.worker_id,
                hooks=self.hooks,
            )
        _client.set_current(self)

    async def shutdown(self) -> None:
        """Stop background work and running instances (their leases are released so others resume them at once),
        then close the storage if this app opened it. Idempotent."""
        worker = self._worker
        if worker is None:
            return
        await worker.stop_background()
        if self._relayer is not None:
            await self._relayer.stop()
            self._relayer = None
        await worker.stop()
        await self._close(worker)

    async def _crash(self) -> None:
        """Stop as a killed process would: cancel everything, write nothing (see ``edda.testing.simulate_crash``)."""
        worker = self._worker
        if worker is None:
            return
        await worker.crash()
        # A dead process's connections are closed by the OS; do the same so nothing lingers in this one.
        await self._close(worker)

    async def _close(self, worker: Worker) -> None:
        self._worker = None
        await self._results.close()
        _client.clear_current(self)
        if self._owns_storage and self._storage is not None:
            await self._storage.close()

    async def __aenter__(self) -> EddaApp:
        await self.initialize()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown()

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
        worker = self.worker
        workflow = self._workflow(wf)
        stored_input = workflow.prepare_input(dict(kwargs or {}))
        if instance_id is None:
            instance_id = self.ids.new_id()
        elif not isinstance(instance_id, str) or not instance_id or len(instance_id) > _MAX_INSTANCE_ID:
            raise ValueError(f"instance_id must be a non-empty string of at most {_MAX_INSTANCE_ID} characters")
        lease = lock_timeout_seconds or workflow.lock_timeout_seconds
        now = self.clock.now()
        held = (lease or self.settings.lease_timeout_seconds) if self.settings.run_workflows else 0.0  # client: free
        record, created = await self.storage.create_instance(
            NewInstance(
                instance_id=instance_id,
                workflow_name=workflow.name,
                input_data=stored_input,
                owner_id=self.worker_id,
                now=now,
                lease_expires_at=now + timedelta(seconds=held),
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
            if record.owner_id == self.worker_id and worker.idle_here(instance_id) and self.settings.run_workflows:
                worker.spawn(workflow, record, None)  # our create's reply was lost, and the caller retried
            return instance_id
        await worker.start_created(workflow, record)
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

    async def resume_workflow(self, instance_id: str) -> bool:
        """Run ``instance_id`` now: claim it here (a client wakes the workers instead), unless it is finished,
        running here or held by a live worker. Returns whether it started here. An instance that failed on
        :class:`~edda.NonDeterminismError` is made runnable again first, history intact (``edda resume ID``).

        Raises:
            WorkflowNotFoundError: no such instance.
            WorkflowStateError: it is completed, cancelled, or failed for another reason (final).
        """
        record = await self.storage.get_instance(instance_id)
        if record is None:
            raise WorkflowNotFoundError(f"No workflow instance {instance_id!r}")
        if record.status in FINISHED_STATUSES:
            diverged = (record.error or {}).get("error_type") == "NonDeterminismError"  # only a failure has one
            if not diverged or not await self.storage.reopen_instance(instance_id, now=self.clock.now()):
                raise WorkflowStateError(
                    f"Workflow instance {instance_id!r} is {record.status}; only unfinished instances and those that "
                    f"failed on NonDeterminismError can be resumed.",
                    instance_id=instance_id,
                    status=record.status,
                )
        return await self.worker.resume(instance_id)

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
        return await wait_for_result(self.storage, self._worker, self._results, instance_id, timeout=timeout)

    # -- cancelling ---------------------------------------------------------------------------------------------

    async def cancel_workflow(self, instance_id: str) -> None:
        """Cancel an instance: it stops at its next step, its compensations run, and it ends ``cancelled``.

        An instance that is waiting or idle is cancelled before this returns; one running on some worker is
        cancelled by that worker at its next step.

        Raises:
            WorkflowNotFoundError: no such instance.
            WorkflowStateError: it already finished (``completed``, ``failed`` or ``cancelled``).
        """
        worker = self.worker
        record = await self.storage.request_cancel(instance_id, now=self.clock.now())
        if record is None:
            raise WorkflowNotFoundError(f"No workflow instance {instance_id!r}")
        if record.status in FINISHED_STATUSES:
            raise WorkflowStateError(
                f"Workflow instance {instance_id!r} already finished with status '{record.status}'; only running or "
                f"waiting instances can be cancelled.",
                instance_id=instance_id,
                status=record.status,
            )
        run = worker.runs.get(instance_id)
        if run is not None:
            run.cancel_requested = True
            return
        if await worker.resume(instance_id):
            task = worker.tasks.get(instance_id)
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
        return await find_instances(
            self.storage,
            input_filters=input_filters,
            status=status,
            workflow_name=workflow_name,
            instance_id=instance_id,
            started_after=started_after,
            started_before=started_before,
            limit=limit,
            page_token=page_token,
        )

    # -- messages and events ------------------------------------------------------------------------------------

    async def publish_message(self, message: NewMessage) -> tuple[ChannelMessageRecord, tuple[str, ...]]:
        """Store a channel message durably and resume the receivers it wakes that this process can run."""
        record, woken = await self.storage.publish(message, now=self.clock.now())
        self.worker.wake(woken)
        return record, woken

    def on_event(self, event_type: str, proto_type: type[Any] | None = None) -> Any:
        """Register ``handler(event)`` to be called for every CloudEvent of ``event_type`` this app handles.

        The handler (a coroutine function or a plain function) receives a read-only CloudEvent: ``event["type"]``,
        ``event["source"]``, ``event["id"]``, ``event.get("subject")`` and ``"type" in event`` read its attributes
        (extensions too), ``event.data`` (or ``event.get_data()``) its payload, ``event.get_attributes()`` all
        attributes. It is the same however the event arrived (structured or binary HTTP, ``send_event``).

        Example::

            @app.on_event("order.created")
            async def handle_order_created(event):
                await order_workflow.start(order_id=event.data["order_id"])
        """
        if not isinstance(event_type, str) or not event_type:
            raise ValueError("on_event() needs a non-empty event type")

        def decorator(handler: Any) -> Any:
            self._events.add_handler(event_type, handler)
            return handler

        return decorator

    async def handle_cloudevent(self, event: Any, wait: bool = False) -> None:
        """Deliver a CloudEvent: to every workflow waiting for its type (or only to the instance named by its
        ``eddainstanceid`` extension), to ``@workflow(event_handler=True)`` workflows named like the type (started
        with the event's data as input) and to ``on_event`` handlers.

        ``event`` is a CloudEvent from the ``cloudevents`` SDK (1.x or 2.x) or a mapping of its attributes plus
        ``data``; ``on_event`` handlers receive it as a read-only ``edda`` CloudEvent either way (see :meth:`on_event`).

        The event is durably stored before this returns, so it takes effect even if the process dies right after.
        Handlers and workflow starts run as background tasks unless ``wait=True``.

        Raises:
            ValueError: the event lacks ``type``, ``source`` or ``id``, or its data cannot be stored.
        """
        _ = self.worker  # raises if not initialized
        await self._events.deliver(event, wait=wait)

    async def deliver_event(self, event: dict[str, Any]) -> None:
        """Deliver ``event`` here and return once its handlers have run (``send_event`` without a broker)."""
        await self._events.deliver(event, wait=True)

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
