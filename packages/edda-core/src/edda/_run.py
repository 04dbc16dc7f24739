"""The per-run bookkeeping of the engine, and the seam to the worker that hosts runs.

A *run* is one execution of a workflow function on one worker: from the top, replaying recorded steps, then
executing new ones. ``RunState`` holds what that needs: the history read once at the start, which recorded steps
the code has consumed, the ids handed out, and the writes not yet committed.

Commit rule: when ``await an_activity(...)`` returns (or raises) in workflow code, its history entry is committed.
Activities of one run that finish together (``asyncio.gather``) share a commit: a finishing activity puts its entry
in ``pending`` and flushes; a flush takes everything pending, so one that waits for the flush lock finds its entry
already committed by the flush before it. Entries that replay the same way whether or not they were committed (a
timer that fired, a receive that timed out: both are decided by the wait recorded on the instance) still ride on the
next commit, bounded by a short timer.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from edda._signals import RecurException, RecurSignal, ReplayReachedEnd, StorageFault, Suspend
from edda.clock import Clock, IdSource
from edda.exceptions import EddaError, NonDeterminismError, StorageUnavailableError
from edda.retry import RetryPolicy
from edda.storage.protocol import Storage
from edda.storage.records import (
    Fence,
    HistoryEvent,
    HistoryEventType,
    InstanceUpdate,
    NewHistoryEvent,
    NewMessage,
    NewOutboxEvent,
    StepCommit,
    StepOutcome,
    Subscribe,
    Unsubscribe,
)

__all__ = [
    "STEP_EVENT_TYPES",
    "RecurException",
    "RecurSignal",
    "ReplayReachedEnd",
    "RunHost",
    "RunState",
    "StorageFault",
    "Suspend",
    "TxScope",
    "current_run",
    "current_scope",
    "run_post_commit",
]

logger = logging.getLogger("edda")

# History event types that are results of a step the workflow code calls (replayed by id).
STEP_EVENT_TYPES = frozenset(
    {
        HistoryEventType.ACTIVITY_COMPLETED,
        HistoryEventType.ACTIVITY_FAILED,
        HistoryEventType.COMPENSATION_REGISTERED,
        HistoryEventType.TIMER_FIRED,
        HistoryEventType.MESSAGE_RECEIVED,
        HistoryEventType.RECEIVE_TIMED_OUT,
        HistoryEventType.MESSAGE_PUBLISHED,
        HistoryEventType.CHANNEL_SUBSCRIBED,
        HistoryEventType.CHANNEL_UNSUBSCRIBED,
        HistoryEventType.EVENT_SENT,
    }
)
FLUSH_DELAY_SECONDS = 0.02


@dataclass
class TxScope:
    """An activity's (or a ``ctx.transaction()`` block's) transaction, opened on first use."""

    storage: Any
    tx: Any = None
    outbox: list[NewOutboxEvent] = field(default_factory=list)
    messages: list[NewMessage] = field(default_factory=list)
    history: list[NewHistoryEvent] = field(default_factory=list)  # entries added with ctx.storage.append_history
    post_commit: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    def ensure_tx(self) -> Any:
        if self.tx is None:
            self.tx = self.storage.begin()
        return self.tx


current_scope: contextvars.ContextVar[TxScope | None] = contextvars.ContextVar("edda_tx_scope", default=None)
# The run whose workflow code is executing in this task (and the tasks it spawns): lets calls that take no context,
# such as ``send_event``, act as recorded steps.
current_run: contextvars.ContextVar[RunState | None] = contextvars.ContextVar("edda_run", default=None)


class RunHost(Protocol):
    """What a run needs from the worker that hosts it (the worker implements it; nothing here imports the worker).

    Attributes:
        storage: the storage backend the run writes through.
        clock, ids: time and ids (injectable for tests).
        worker_id: the hosting worker's id (written into every fence).
        default_retry_policy: for activities that declare none.
        broker_url: where ``send_event`` posts when given no URL (``None``: deliver to this app).
        has_hooks: whether lifecycle hooks are installed (skip building their arguments when not).
    """

    storage: Storage
    clock: Clock
    ids: IdSource
    worker_id: str
    default_retry_policy: RetryPolicy
    broker_url: str | None

    @property
    def has_hooks(self) -> bool: ...

    async def hook(self, name: str, *args: Any) -> None:
        """Call lifecycle hook ``name`` (errors are logged, never raised)."""
        ...

    def started(self, run: RunState) -> None:
        """A run of an instance began on this worker (its lease is to be renewed while it runs)."""
        ...

    def committed(self, woken: tuple[str, ...], *, outbox: bool) -> None:
        """A commit of a run woke ``woken`` instances and, if ``outbox``, wrote outbox events."""
        ...

    def suspended(self, instance_id: str) -> None:
        """The run committed a wait and ended."""
        ...

    def finished(self, instance_id: str) -> None:
        """The instance reached a final status."""
        ...

    async def deliver_event(self, event: dict[str, Any]) -> None:
        """Deliver a CloudEvent (attributes plus ``data``) to this app's waiting workflows and handlers, and return
        when its handlers have run."""
        ...


async def run_post_commit(callback: Callable[[], Any]) -> None:
    """Run a post-commit callback; its failure is logged, the commit stands."""
    try:
        result = callback()
        if inspect.isawaitable(result):
            await result
    except Exception:
        logger.exception("post-commit callback %r raised; the commit itself stands", callback)


def describe_step(event: HistoryEvent) -> str:
    name = event.event_data.get("activity_name") or event.event_data.get("compensation_name") or "?"
    kinds: dict[str, str] = {
        HistoryEventType.ACTIVITY_COMPLETED: "activity",
        HistoryEventType.ACTIVITY_FAILED: "activity",
        HistoryEventType.COMPENSATION_REGISTERED: "compensation registration",
    }
    kind = kinds.get(event.event_type, event.event_type)
    return f"{kind} {name!r} (id {event.activity_id!r})"


class RunState:
    """Bookkeeping of one run of one instance on this worker."""

    dry_run = False  # the replayer's runs: a new step ends the run (ReplayReachedEnd) instead of executing

    def __init__(
        self,
        host: RunHost,
        *,
        instance_id: str,
        workflow_name: str,
        fence: Fence,
        history: list[HistoryEvent],
        cancel_requested: bool = False,
        wait: Mapping[str, Any] | None = None,
        iteration: int = 0,
        deadline: datetime | None = None,
        execution_timeout: float | None = None,
    ) -> None:
        self.host = host
        self.iteration = iteration
        self.storage = host.storage
        self.instance_id = instance_id
        self.workflow_name = workflow_name
        self.fence = fence
        self.history = history
        self.steps: list[HistoryEvent] = []
        self.results: dict[str, HistoryEvent] = {}
        self.attempts: dict[str, list[HistoryEvent]] = {}
        self.patches: set[str] = set()  # ids of the ctx.patched() markers recorded
        self.attempt_starts: dict[str, HistoryEvent] = {}  # the last recorded attempt start per step (timeouts)
        for event in history:
            if event.event_type in STEP_EVENT_TYPES:
                self.steps.append(event)
                self.results[event.activity_id] = event
            elif event.event_type == HistoryEventType.ACTIVITY_ATTEMPT_FAILED:
                self.attempts.setdefault(event.activity_id, []).append(event)
            elif event.event_type == HistoryEventType.ACTIVITY_ATTEMPT_STARTED:
                self.attempt_starts[event.activity_id] = event
            elif event.event_type == HistoryEventType.PATCH_APPLIED:
                self.patches.add(event.event_data["patch_id"])
        self.step_positions = {e.activity_id: i + 1 for i, e in enumerate(self.steps)}
        self.consumed: set[str] = set()
        self.called: set[str] = set()
        self.counters: dict[str, int] = {}
        self.pending: list[NewHistoryEvent] = []
        self.pending_outbox: list[NewOutboxEvent] = []
        self.pending_callbacks: list[Callable[[], Awaitable[None]]] = []
        self.pending_messages: list[NewMessage] = []
        self.committed: list[NewHistoryEvent] = []  # entries this run has written (history is not re-read)
        self.inflight = 0
        self.cancel_requested = cancel_requested
        self.deadline = deadline  # created_at + @workflow(execution_timeout_seconds=...), if it declares one
        self.execution_timeout = execution_timeout
        self.cancel_info: dict[str, Any] | None = None  # why, when the run cancels itself (its deadline passed)
        self.wait = wait  # what the instance was waiting for when this run started
        self.flush_lock = asyncio.Lock()
        self._flush_handle: asyncio.TimerHandle | None = None
        self.flush_task: asyncio.Task[None] | None = None

    # -- step ids and replay ------------------------------------------------------------------------------------

    def next_auto_id(self, name: str) -> str:
        n = self.counters.get(name, 0) + 1
        self.counters[name] = n
        return f"{name}:{n}"

    def claim_step(self, step_id: str, *, event_types: frozenset[str], name: str, name_key: str) -> HistoryEvent | None:
        """Register that the code calls step ``step_id``; return its recorded result, if any."""
        if step_id in self.called:
            raise ValueError(
                f"Step id {step_id!r} is used twice in one run of workflow {self.workflow_name!r}. Ids must be "
                f"unique within a run: omit activity_id to get automatic ids, or make manual ids distinct."
            )
        self.called.add(step_id)
        recorded = self.results.get(step_id)
        if recorded is None:
            return None
        if recorded.event_type not in event_types or recorded.event_data.get(name_key) != name:
            raise self._divergence(self.step_positions[step_id], recorded, f"{name!r} (id {step_id!r})")
        self.consumed.add(step_id)
        return recorded

    @property
    def is_replaying(self) -> bool:
        return len(self.consumed) < len(self.steps)

    async def check_new_step(self, step_id: str, requested: str) -> None:
        """Raise if a new step is requested while recorded steps remain unconsumed (code and history diverged)."""
        if self.is_replaying:
            for _ in range(3):  # let sibling tasks of an asyncio.gather reach their own (recorded) calls first
                await asyncio.sleep(0)
                if not self.is_replaying:
                    break
            else:
                first = next(e for e in self.steps if e.activity_id not in self.consumed)
                raise self._divergence(self.step_positions[first.activity_id], first, f"{requested} (id {step_id!r})")
        if self.dry_run:
            raise ReplayReachedEnd(step_id, requested)

    def check_all_consumed(self) -> None:
        if self.is_replaying:
            first = next(e for e in self.steps if e.activity_id not in self.consumed)
            raise self._divergence(self.step_positions[first.activity_id], first, None)

    def _divergence(self, position: int, recorded: HistoryEvent, requested: str | None) -> NonDeterminismError:
        what = describe_step(recorded)
        if requested is None:
            detail = f"history recorded {what}, but the code finished without calling it"
        else:
            detail = f"history recorded {what}, but the code now calls {requested}"
        return NonDeterminismError(
            f"Workflow {self.workflow_name!r} instance {self.instance_id!r} no longer matches its history at step "
            f"{position}: {detail}. The code changed while this instance was in flight; deploy code that makes "
            f"the same calls in the same order for in-flight instances (or give new steps new ids).",
            position=position,
            recorded=what,
            requested=requested,
        )

    # -- writes -------------------------------------------------------------------------------------------------

    async def commit_now(
        self,
        history: list[NewHistoryEvent],
        outbox: list[NewOutboxEvent] | None = None,
        callbacks: list[Callable[[], Awaitable[None]]] | None = None,
        messages: list[NewMessage] | None = None,
    ) -> None:
        """Commit these writes (and whatever else is pending) before returning: what ``await activity(...)``
        promises. Concurrent callers of one run share commits (see the module docstring)."""
        self.pending.extend(history)
        self.pending_outbox.extend(outbox or ())
        self.pending_callbacks.extend(callbacks or ())
        self.pending_messages.extend(messages or ())
        await self.flush()

    def add_pending(
        self,
        history: list[NewHistoryEvent],
        outbox: list[NewOutboxEvent],
        callbacks: list[Callable[[], Awaitable[None]]],
        messages: list[NewMessage] | None = None,
    ) -> None:
        """Hold writes that replay the same whether committed or not (a fired timer, a receive's timeout) for the
        next commit; a short timer bounds the wait, and a running activity forces it at once."""
        self.pending.extend(history)
        self.pending_outbox.extend(outbox)
        self.pending_callbacks.extend(callbacks)
        self.pending_messages.extend(messages or ())
        if self.inflight > 0:
            self._start_flush_task()  # another activity is running: never hold a result across its execution
        elif self._flush_handle is None:
            self._flush_handle = asyncio.get_running_loop().call_later(FLUSH_DELAY_SECONDS, self._start_flush_task)

    def _start_flush_task(self) -> None:
        self._flush_handle = None
        if self.pending or self.pending_outbox or self.pending_messages:
            self.flush_task = asyncio.ensure_future(self._background_flush())

    async def _background_flush(self) -> None:
        try:
            await self.flush()
        except BaseException as exc:  # the run notices at its next write; log for the operator
            if not isinstance(exc, asyncio.CancelledError):
                logger.warning("Deferred commit for instance %s failed: %r", self.instance_id, exc)

    def cancel_timers(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None

    @property
    def has_pending(self) -> bool:
        return bool(self.pending or self.pending_outbox or self.pending_messages)

    async def flush(
        self,
        update: InstanceUpdate | None = None,
        *,
        extra: list[NewHistoryEvent] | None = None,
        extra_outbox: list[NewOutboxEvent] | None = None,
        extra_messages: list[NewMessage] | None = None,
        subscriptions: tuple[Subscribe | Unsubscribe, ...] = (),
        extra_callbacks: list[Callable[[], Awaitable[None]]] | None = None,
        tx: Any = None,
    ) -> StepOutcome | None:
        """Commit pending writes plus the ``extra_*`` ones and ``update`` in one fenced step.

        With ``tx`` the step is written in that transaction, which is then committed (or rolled back on failure).
        Pending writes survive a failed commit (outside ``tx``) so the run's retry does not lose them.
        """

        async def write(commit: StepCommit) -> StepOutcome:
            outcome = await self.storage.commit_step(commit, tx=tx)
            if tx is not None:
                await tx.commit()
            return outcome

        outcome = await self._write(
            write,
            update=update,
            extra=extra,
            extra_outbox=extra_outbox,
            extra_messages=extra_messages,
            subscriptions=subscriptions,
            extra_callbacks=extra_callbacks,
            tx=tx,
            required=tx is not None,
        )
        if isinstance(outcome, StepOutcome):
            if outcome.cancel_requested:
                self.cancel_requested = True
            if outcome.woken:
                self.host.committed(outcome.woken, outbox=False)
        return outcome

    async def receive(self, channel: str, step_id: str, wait: InstanceUpdate | None) -> Any:
        """Take the next deliverable message on ``channel`` (recorded as ``step_id``), committing pending writes in
        the same transaction; if there is none, commit ``wait`` instead and return ``None``."""

        async def write(commit: StepCommit) -> Any:
            return await self.storage.receive_or_wait(commit, channel=channel, step_id=step_id, wait=wait)

        return await self._write(write, required=True)

    async def _write(
        self,
        write: Callable[[StepCommit], Awaitable[Any]],
        *,
        update: InstanceUpdate | None = None,
        extra: list[NewHistoryEvent] | None = None,
        extra_outbox: list[NewOutboxEvent] | None = None,
        extra_messages: list[NewMessage] | None = None,
        subscriptions: tuple[Subscribe | Unsubscribe, ...] = (),
        extra_callbacks: list[Callable[[], Awaitable[None]]] | None = None,
        tx: Any = None,
        required: bool = False,
    ) -> Any:
        async with self.flush_lock:
            self.cancel_timers()
            history = self.pending + list(extra or ())
            outbox = self.pending_outbox + list(extra_outbox or ())
            messages = self.pending_messages + list(extra_messages or ())
            callbacks = self.pending_callbacks + list(extra_callbacks or ())
            if not (history or outbox or messages or subscriptions or update is not None or required):
                return None
            kept = (self.pending, self.pending_outbox, self.pending_callbacks, self.pending_messages)
            self.pending, self.pending_outbox, self.pending_callbacks, self.pending_messages = [], [], [], []
            commit = StepCommit(
                fence=self.fence,
                now=self.host.clock.now(),
                history=tuple(history),
                update=update,
                outbox=tuple(outbox),
                messages=tuple(messages),
                subscriptions=subscriptions,
            )
            try:
                result = await write(commit)
            except BaseException as exc:
                if tx is not None:
                    await _quiet_rollback(tx)
                # Nothing was written: keep what was pending for the retry of this run.
                self.pending = kept[0] + self.pending
                self.pending_outbox = kept[1] + self.pending_outbox
                self.pending_callbacks = kept[2] + self.pending_callbacks
                self.pending_messages = kept[3] + self.pending_messages
                if isinstance(exc, StorageUnavailableError):
                    raise StorageFault(exc) from exc
                if tx is None and isinstance(exc, Exception) and not isinstance(exc, EddaError):
                    # The engine's own write failed with something the storage did not classify (a driver error
                    # on a broken connection, say). It is not the workflow's failure: retry the run from history.
                    raise StorageFault(exc) from exc
                raise
            self.committed.extend(history)
        if outbox:
            self.host.committed((), outbox=True)
        for callback in callbacks:
            await run_post_commit(callback)
        return result

    async def commit_in_transaction(self, scope: TxScope) -> None:
        """Commit a workflow-level ``ctx.transaction()`` block: its outbox events and messages as a fenced step in
        the block's transaction, then the transaction, then its post-commit callbacks."""
        try:
            if scope.outbox or scope.messages or scope.history:
                async with self.flush_lock:
                    commit = StepCommit(
                        fence=self.fence,
                        now=self.host.clock.now(),
                        history=tuple(scope.history),
                        outbox=tuple(scope.outbox),
                        messages=tuple(scope.messages),
                    )
                    outcome = await self.storage.commit_step(commit, tx=scope.ensure_tx())
                self.host.committed(outcome.woken, outbox=bool(scope.outbox))
            if scope.tx is not None:
                await scope.tx.commit()
        except StorageUnavailableError as exc:  # a lost connection, a deadlock: not the workflow's failure
            if scope.tx is not None:
                await _quiet_rollback(scope.tx)
            raise StorageFault(exc) from exc
        for callback in scope.post_commit:
            await run_post_commit(callback)

    async def suspend(self, update: InstanceUpdate) -> None:
        """Commit the wait described by ``update`` and end this run (raises :class:`Suspend`)."""
        await self.flush(update)
        raise Suspend()


async def _quiet_rollback(tx: Any) -> None:
    try:
        await tx.rollback()
    except Exception:  # the connection may be gone; the database rolls back on its own then
        logger.debug("rollback after a failed commit raised", exc_info=True)
