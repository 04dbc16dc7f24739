"""The storage SPI: small role protocols a backend implements.

A backend is one object implementing every role below (:class:`Storage`). The engine writes through a single
unit of work, :meth:`StepStore.commit_step`, which lets a backend batch or group-commit freely; reads are plain
methods. ``edda.testing.storage`` checks a backend against these contracts, one mixin per role.

Optional capabilities sit beside the roles: :class:`HistoryBatchReader`, :class:`InstanceBatchReader`,
:class:`ClaimsByWorkflow`, :class:`WakeSource` and :class:`WakeAnnouncer`. They are not part of :class:`Storage`; the
engine uses one when the storage is an instance of it (they are ``runtime_checkable``) and otherwise does without.

Why one ``commit_step`` rather than many small write methods: every engine write must be atomic with its fencing
check and with the other writes of the same step (history + instance update + outbox). Passing the whole step as one
typed record makes that atomicity the backend's single obvious job, and lets SQLite funnel concurrent steps through
one writer connection and commit them together.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from edda.storage.records import (
    ChannelMessageRecord,
    Fence,
    HistoryEvent,
    InstancePage,
    InstanceQuery,
    InstanceRecord,
    InstanceUpdate,
    NewInstance,
    NewMessage,
    OutboxEvent,
    StepCommit,
    StepOutcome,
    StorageCapabilities,
)

__all__ = [
    "ChannelStore",
    "ClaimsByWorkflow",
    "HistoryBatchReader",
    "HistoryStore",
    "InstanceBatchReader",
    "InstanceStore",
    "LeaseStore",
    "OutboxStore",
    "StepStore",
    "Storage",
    "Transaction",
    "TransactionManager",
    "WakeAnnouncer",
    "WakeSource",
    "WorkerRegistry",
]


@runtime_checkable
class Transaction(Protocol):
    """An open database transaction that user code may share (``ctx.session``)."""

    @property
    def session(self) -> Any:
        """The backend's session object (a SQLAlchemy ``AsyncSession`` for SQL storage).

        Raises:
            RuntimeError: the backend has no sessions (``capabilities.sessions`` is false).
        """
        ...

    def savepoint(self) -> AbstractAsyncContextManager[None]:
        """A nested transaction: rolled back alone if its block raises."""
        ...

    async def commit(self) -> None:
        """Commit everything done in the transaction (session writes and ``commit_step(tx=...)``)."""
        ...

    async def rollback(self) -> None:
        """Discard everything done in the transaction. Safe to call after a failed commit."""
        ...


class TransactionManager(Protocol):
    def begin(self) -> Transaction:
        """A new transaction, synchronously and without I/O: the connection is taken on first use.

        This is what lets ``ctx.session`` (a plain property) open the activity's transaction lazily, so activities
        that never touch the session cost no interactive transaction.
        """
        ...

    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        """``begin()`` as a block: committed when the block exits normally, rolled back if it raises."""
        ...


class InstanceStore(Protocol):
    async def create_instance(self, new: NewInstance) -> tuple[InstanceRecord, bool]:
        """Create the instance, owned by ``new.owner_id`` with lease epoch 1.

        Returns:
            The stored record and ``True``, or the already existing record with that id and ``False`` (nothing
            is changed then: starting twice with one id is idempotent).
        """
        ...

    async def get_instance(self, instance_id: str) -> InstanceRecord | None: ...

    async def find_instances(self, query: InstanceQuery) -> InstancePage:
        """Instances matching every given filter, newest first (``created_at``, then ``instance_id``, descending).

        ``workflow_name`` and ``instance_id`` match case-insensitive substrings (``%`` and ``_`` are literal);
        ``input_filters`` are ``(dotted.path, scalar)`` pairs matched exactly against ``input_data``;
        ``cursor`` continues after the last row of the previous page.
        """
        ...

    async def request_cancel(self, instance_id: str, *, now: datetime) -> InstanceRecord | None:
        """Durably flag an unfinished instance for cancellation. Returns the record after the change (unchanged if
        it is finished), or ``None`` if it does not exist."""
        ...

    async def reopen_instance(self, instance_id: str, *, now: datetime) -> bool:
        """Make a ``failed`` instance runnable again: status ``running``, error, owner, lease and wait cleared; its
        history is kept, so a worker replays it. Returns False (and changes nothing) unless it exists and is
        ``failed``. Used to retry an instance that failed on ``NonDeterminismError`` once the code is fixed."""
        ...

    # Retention (EddaApp(instance_retention_days=...)). An instance is *expired* at ``finished_before`` when it is
    # finished (FINISHED_STATUSES), its ``completed_at`` is before ``finished_before``, and none of its outbox events is
    # still to be sent (``pending`` or ``failed``: BLOCKING_OUTBOX_STATUSES); such an instance waits until its events
    # are published, skipped or expired. The three methods agree on that set: what the first two show is what the
    # third deletes.

    async def find_expired_instances(self, *, finished_before: datetime, limit: int) -> list[InstanceRecord]:
        """Up to ``limit`` expired instances, the earliest finished first (``completed_at``, then ``instance_id``).

        Raises:
            ValueError: ``limit`` is not a positive int.
        """
        ...

    async def count_expired_instances(self, *, finished_before: datetime) -> int:
        """How many instances are expired at ``finished_before``."""
        ...

    async def delete_expired_instances(self, *, finished_before: datetime, limit: int) -> int:
        """Delete up to ``limit`` expired instances in one transaction, each with its whole history (every
        iteration), its channel subscriptions and its outbox events that were published, skipped or expired.
        Outbox events still to be sent are never deleted; undelivered channel messages addressed to a deleted
        instance are left to ``cleanup_messages``. Safe to run from several workers at once (they skip each other's
        rows). Returns how many instances were deleted.

        Raises:
            ValueError: ``limit`` is not a positive int.
        """
        ...


class HistoryStore(Protocol):
    async def get_history(self, instance_id: str, *, iteration: int | None = None) -> list[HistoryEvent]:
        """The history of one iteration (default: the instance's current one), in ``seq`` order."""
        ...

    # Reading the histories of several instances at once is the optional HistoryBatchReader, below.


class StepStore(Protocol):
    async def commit_step(self, commit: StepCommit, *, tx: Transaction | None = None) -> StepOutcome:
        """Apply ``commit`` atomically, in ``tx`` if given (then it commits with ``tx``).

        Raises:
            edda.exceptions.LeaseLostError: the fence no longer holds; nothing was written.
            edda.exceptions.PayloadTooLargeError: a value exceeds ``capabilities.max_payload_bytes``; nothing written.
            edda.exceptions.ChannelModeConflictError: a ``Subscribe`` names a mode other than the channel's current
                one (broadcast vs competing); nothing written.
        """
        ...


class LeaseStore(Protocol):
    async def claim_instance(
        self, instance_id: str, *, worker_id: str, now: datetime, lease_expires_at: datetime
    ) -> InstanceRecord | None:
        """Take the lease of an unfinished instance that is unowned, expired, or already ``worker_id``'s.

        Bumps ``lease_epoch``. Returns the claimed record, or ``None`` if it is finished, owned by a live lease, or
        missing.
        """
        ...

    async def claim_runnable(
        self, *, worker_id: str, now: datetime, lease_expires_at: datetime, limit: int
    ) -> list[InstanceRecord]:
        """Claim up to ``limit`` unfinished instances that need a worker: unowned or expired, and either active
        (running/compensating), flagged for cancellation, or waiting with ``wake_at <= now``."""
        ...

    async def renew_leases(self, fences: list[Fence], *, lease_expires_at: datetime) -> set[str]:
        """Extend the leases still held as fenced. Returns the instance ids whose lease was renewed."""
        ...

    async def release_foreign_leases(self, *, worker_id: str) -> int:
        """Clear every lease not held by ``worker_id`` (single-process takeover after a crash). Returns how many."""
        ...


class ChannelStore(Protocol):
    """Channel messages. A message is *deliverable* to instance I on channel C when it is on C and either targeted at
    I and not yet delivered, or untargeted and I's subscription to C is broadcast (seq after I's cursor) or competing
    (not yet claimed by anyone). Publishing and receiving on one channel are serialized, so no wake-up is lost."""

    async def publish(self, message: NewMessage, *, now: datetime) -> tuple[ChannelMessageRecord, tuple[str, ...]]:
        """Store ``message`` and wake its waiting receivers: the target of a direct message; every waiting broadcast
        subscriber; for competing channels the longest-waiting subscribers, at least one per undelivered message.
        Waking sets the instance's ``wake_at`` to ``now`` so any worker can claim it.

        A message id is stored once: when a message with ``message.message_id`` is already stored (a CloudEvent
        delivered again: its id derives from the event's ``source`` and ``id``), nothing is stored or woken and the
        stored message is returned with no ids. The id stays taken until :meth:`cleanup_messages` removes the
        message.

        Returns:
            The stored message and the ids of the instances woken.
        """
        ...

    async def receive_or_wait(
        self, commit: StepCommit, *, channel: str, step_id: str, wait: InstanceUpdate | None
    ) -> ChannelMessageRecord | None:
        """Atomically, under ``commit.fence``: apply ``commit`` (its subscriptions first), then take the first
        deliverable message for the instance on ``channel`` (oldest ``seq``), if any.

        If there is no subscription to ``channel``, one is created first with the channel's mode (broadcast if it
        has none). Taking marks the message delivered for this instance (claims it, or advances the broadcast
        cursor) and appends history entry ``(step_id, "MessageReceived", {"channel", "message_id", "seq", "data",
        "metadata", "published_at", "target_instance_id"})`` (``data`` ``None`` and the bytes in ``payload`` when
        the message is bytes). If nothing is deliverable, ``wait`` (if given) is applied instead and the instance is
        recorded as waiting on ``channel``, so ``publish`` wakes it.
        """
        ...

    async def cleanup_messages(self, *, older_than: datetime) -> int:
        """Delete messages published before ``older_than`` that are delivered (competing/direct: claimed; broadcast:
        every current subscriber's cursor is past them). Returns how many were deleted."""
        ...


class WorkerRegistry(Protocol):
    async def register_worker(self, worker_id: str) -> None:
        """Tie ``worker_id``'s liveness to this storage's connection (where ``detects_dead_workers``)."""
        ...

    async def unregister_worker(self, worker_id: str) -> None: ...

    async def next_wake_at(self) -> datetime | None:
        """The earliest ``wake_at`` of an unfinished, unowned instance, or ``None``."""
        ...


class OutboxStore(Protocol):
    """The transactional outbox (rows are written by ``commit_step``; relayers send them)."""

    async def list_outbox(self, *, status: str | None = None, limit: int = 100) -> list[OutboxEvent]:
        """Outbox events in ``seq`` order, optionally only those with ``status``."""
        ...

    async def get_outbox_event(self, event_id: str) -> OutboxEvent | None:
        """The outbox event ``event_id`` (the first one written with that id), or ``None``."""
        ...

    async def claim_outbox(
        self, *, worker_id: str, now: datetime, claim_expires_at: datetime, limit: int
    ) -> list[OutboxEvent]:
        """Claim up to ``limit`` pending events to send, in ``seq`` order.

        An event is claimable when it is pending, due (``next_attempt_at`` unset or past), not claimed by a live
        claim (``claim_expires_at`` in the future), and no earlier event of its instance is pending or ``failed``
        (``BLOCKING_OUTBOX_STATUSES``), so events of one instance are sent in order, and one stuck or failed event
        holds back the later ones of the same instance only (a failed one until it is re-sent or skipped).
        Concurrent claimers never get the same event.
        """
        ...

    async def finish_outbox(
        self, event_id: str, *, worker_id: str, status: str, now: datetime, error: str | None = None
    ) -> bool:
        """Record the outcome of sending a claimed event: ``published``, ``failed`` or ``expired``; releases the
        claim and counts the attempt. Returns False (and changes nothing) if ``worker_id`` no longer holds it."""
        ...

    async def retry_outbox(self, event_id: str, *, worker_id: str, error: str, next_attempt_at: datetime) -> bool:
        """A send failed transiently: count the attempt, record ``error``, release the claim and make the event due
        again at ``next_attempt_at``. Returns False if ``worker_id`` no longer holds it."""
        ...

    async def resend_outbox(self, event_id: str, *, now: datetime) -> bool:
        """Make a ``failed``, ``expired`` or ``skipped`` event pending again, due at once, with its attempt count
        reset (``last_error`` is kept until the next attempt). Returns False (and changes nothing) if there is no
        such event or it is in another status (``RESENDABLE_OUTBOX_STATUSES``)."""
        ...

    async def skip_outbox(self, event_id: str, *, now: datetime) -> bool:
        """Give up on a ``pending`` or ``failed`` event: it becomes ``skipped`` and no longer holds back the later
        events of its instance; a relayer sending it at that moment cannot record its outcome. Returns False (and
        changes nothing) if there is no such event or it is in another status (``SKIPPABLE_OUTBOX_STATUSES``)."""
        ...


@runtime_checkable
class Storage(
    InstanceStore,
    HistoryStore,
    StepStore,
    LeaseStore,
    ChannelStore,
    WorkerRegistry,
    OutboxStore,
    TransactionManager,
    Protocol,
):
    """Everything the engine needs from a backend."""

    capabilities: StorageCapabilities

    async def initialize(self) -> None:
        """Connect and prepare the schema. Idempotent."""
        ...

    async def close(self) -> None:
        """Release connections. Idempotent."""
        ...


# -- optional capabilities ---------------------------------------------------------------------------------------------
# Not part of Storage: a backend implements them when it can do better than the engine's fallback. They are
# runtime_checkable, so the engine (and the conformance kit) test for them with isinstance. Note that isinstance only
# checks that the methods exist, not their signatures: the kit's capabilities tests check the rest.


@runtime_checkable
class HistoryBatchReader(Protocol):
    """Reads the current history of several instances in one round trip.

    A recovery pass that claims a batch of instances loads all their histories with one call instead of one
    :meth:`HistoryStore.get_history` each. Without it, each run reads its own history.
    """

    async def get_histories(self, instance_ids: Sequence[str]) -> dict[str, list[HistoryEvent]]:
        """The current iteration's history of each instance in ``instance_ids``, as one read.

        Each list is exactly what ``get_history(instance_id)`` returns (``seq`` order, current iteration only). An
        id that is missing from the result has no history: unknown ids are left out, and an instance without
        history yet may be left out or map to ``[]`` (callers treat a missing id as an empty history, so an
        instance that has history must never be left out). Repeated ids are allowed; ``[]`` gives ``{}``.
        """
        ...


@runtime_checkable
class InstanceBatchReader(Protocol):
    """Reads several instances in one round trip.

    ``EddaApp.wait_for_result`` looks for instances that finished in another process by reading them; with this, all
    the results a process awaits are read with one call per poll instead of one :meth:`InstanceStore.get_instance`
    each (500 awaited results: one query instead of 500).
    """

    async def get_instances(self, instance_ids: Sequence[str]) -> dict[str, InstanceRecord]:
        """The instances of ``instance_ids``, by id, exactly as ``get_instance`` returns each; unknown ids are left
        out. Repeated ids are allowed; ``[]`` gives ``{}``."""
        ...


@runtime_checkable
class ClaimsByWorkflow(Protocol):
    """Claims only the instances of workflows the claiming process defines.

    Several services may share one database, each defining its own workflows. Without this, a recovery pass claims
    whatever is runnable, and a process must release the instances of workflows it does not define: while another
    service's instances wait (its workers down, or busy), every pass of every other service claims and releases
    them again, and a batch full of them looks like a backlog, so the next pass comes at once. With this, a pass
    claims the instances a process can run and leaves the rest untouched, and the worker sleeps until the next
    wake-up of its own workflows. Without it, the engine claims as before and keeps the loop from spinning itself:
    once passes bring only instances it had to release and has seen before, the next waits for the recovery
    interval (so its own due instances may wait behind the others' for a few intervals).
    """

    async def claim_runnable_of(
        self,
        workflow_names: Collection[str],
        *,
        worker_id: str,
        now: datetime,
        lease_expires_at: datetime,
        limit: int,
    ) -> list[InstanceRecord]:
        """:meth:`LeaseStore.claim_runnable`, of the instances whose ``workflow_name`` is in ``workflow_names`` only
        (the same order, the same lease; the others are neither claimed nor changed). No names: nothing claimed."""
        ...

    async def next_wake_at_of(self, workflow_names: Collection[str]) -> datetime | None:
        """:meth:`WorkerRegistry.next_wake_at`, among the instances of ``workflow_names`` only (none: ``None``)."""
        ...


@runtime_checkable
class WakeSource(Protocol):
    """Pushes wake-ups made by other processes to this one (e.g. PostgreSQL ``LISTEN``).

    With it, a worker learns at once that another process published a message, or announced an instance it could
    not run itself, instead of finding out at its next recovery pass.
    """

    def set_wake_callback(self, callback: Callable[[tuple[str, ...]], None]) -> None:
        """From now on, call ``callback(instance_ids)`` when another process announces that these instances can run.

        Called once by the app, after :meth:`Storage.initialize` (the app also registers its worker first). It is a
        plain method, not a coroutine, and must return at once: a backend starts its listening in the background.
        ``callback`` is called on the event loop's thread, is cheap and never blocks; a backend should log, not
        propagate, an exception it raises. ``callback(())`` (no ids) means wake-ups may have been missed (the
        listening connection was lost and is back): the receiver re-checks everything that is due. A backend that
        cannot listen in its current configuration (e.g. LISTEN/NOTIFY turned off, or not PostgreSQL) makes this
        a no-op. Listening stops at :meth:`Storage.close`.

        Args:
            callback: receives the ids of the instances announced by another process (never those this storage
                object announced itself, where the backend can tell).
        """
        ...


@runtime_checkable
class WakeAnnouncer(Protocol):
    """Tells other processes that instances can run (e.g. PostgreSQL ``NOTIFY``); the sending side of
    :class:`WakeSource`."""

    def announce_wake(self, instance_ids: tuple[str, ...]) -> None:
        """Announce, best effort, that ``instance_ids`` can run, to the :class:`WakeSource` callbacks of other
        processes sharing the database.

        The app calls it after the commit that made the instances runnable has returned, so a woken worker never
        finds that work still locked; and only for instances it could not take itself (held by another worker, or
        a workflow it does not define). Commits never announce by themselves. It is a plain method that returns at
        once and never raises: the sending happens in the background, and a lost announcement only delays the
        instance until a recovery pass finds it. An empty tuple announces nothing. A no-op where the backend has
        no way to reach other processes.
        """
        ...
