"""Typed records exchanged with storage backends.

Records are frozen dataclasses. Those a user reads (``InstanceRecord``, ``HistoryEvent``, ``OutboxEvent``) are also
read-only mappings, so the seed's dict-style access keeps working: ``instance["status"]``,
``instance.get("output_data")``.

Stored data fields hold JSON-compatible values or ``bytes`` (see :mod:`edda.serialization`); a storage backend
stores bytes in a binary column and everything else as JSON.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from typing import Any, Final, TypedDict

__all__ = [
    "ACTIVE_STATUSES",
    "BLOCKING_OUTBOX_STATUSES",
    "FINISHED_STATUSES",
    "RESENDABLE_OUTBOX_STATUSES",
    "SKIPPABLE_OUTBOX_STATUSES",
    "UNSET",
    "WAITING_STATUSES",
    "ErrorInfo",
    "HistoryEventType",
    "OutboxStatus",
    "Unset",
    "WaitInfo",
    "Fence",
    "HistoryEvent",
    "InstancePage",
    "InstanceQuery",
    "InstanceRecord",
    "InstanceStatus",
    "InstanceUpdate",
    "OUTBOX_STATUSES",
    "NewHistoryEvent",
    "NewInstance",
    "NewOutboxEvent",
    "OutboxEvent",
    "ChannelMessageRecord",
    "NewMessage",
    "StepCommit",
    "StepOutcome",
    "StorageCapabilities",
    "Subscribe",
    "Unsubscribe",
]


class InstanceStatus(StrEnum):
    """The statuses an instance moves through (the values are the strings stored)."""

    RUNNING = "running"
    WAITING_FOR_TIMER = "waiting_for_timer"
    WAITING_FOR_EVENT = "waiting_for_event"
    WAITING_FOR_MESSAGE = "waiting_for_message"
    COMPENSATING = "compensating"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class HistoryEventType(StrEnum):
    """The kinds of history entries (the values are the strings stored in ``event_type``)."""

    ACTIVITY_COMPLETED = "ActivityCompleted"
    ACTIVITY_FAILED = "ActivityFailed"
    ACTIVITY_ATTEMPT_FAILED = "ActivityAttemptFailed"
    ACTIVITY_ATTEMPT_STARTED = "ActivityAttemptStarted"  # only for activities with timeout_seconds
    COMPENSATION_REGISTERED = "CompensationRegistered"
    COMPENSATION_ATTACHED = "CompensationAttached"
    COMPENSATION_EXECUTED = "CompensationExecuted"
    COMPENSATION_FAILED = "CompensationFailed"
    TIMER_FIRED = "TimerFired"
    MESSAGE_RECEIVED = "MessageReceived"
    RECEIVE_TIMED_OUT = "ReceiveTimedOut"
    MESSAGE_PUBLISHED = "MessagePublished"
    CHANNEL_SUBSCRIBED = "ChannelSubscribed"
    CHANNEL_UNSUBSCRIBED = "ChannelUnsubscribed"
    EVENT_SENT = "EventSent"
    PATCH_APPLIED = "PatchApplied"


class OutboxStatus(StrEnum):
    """The statuses of an outbox event (the values are the strings stored)."""

    PENDING = "pending"
    PUBLISHED = "published"
    FAILED = "failed"
    EXPIRED = "expired"
    SKIPPED = "skipped"


# A pending or failed event holds back the later events of its instance (order per instance); a failed one until it
# is re-sent or skipped. Expired (older than the relayer's max_age_hours, by the user's choice) and skipped do not.
BLOCKING_OUTBOX_STATUSES = frozenset({OutboxStatus.PENDING, OutboxStatus.FAILED})
RESENDABLE_OUTBOX_STATUSES = frozenset({OutboxStatus.FAILED, OutboxStatus.EXPIRED, OutboxStatus.SKIPPED})
SKIPPABLE_OUTBOX_STATUSES = frozenset({OutboxStatus.PENDING, OutboxStatus.FAILED})


class WaitInfo(TypedDict, total=False):
    """What a waiting instance waits for (``InstanceRecord.wait``, stored as JSON)."""

    kind: str  # "timer", "event" or "message"
    step_id: str
    wake_at: str  # ISO 8601, timers
    channel: str  # events and messages
    timeout_at: str | None
    timeout_seconds: float | None


class ErrorInfo(TypedDict, total=False):
    """Why an instance failed or an activity attempt failed (``InstanceRecord.error``, stored as JSON)."""

    error_type: str
    message: str
    module: str
    traceback: str
    attempt: int
    retry_metadata: dict[str, Any]
    cause: dict[str, Any]
    final_status: str  # set while compensating: the status the instance ends with


FINISHED_STATUSES: Final = frozenset({InstanceStatus.COMPLETED, InstanceStatus.FAILED, InstanceStatus.CANCELLED})
WAITING_STATUSES: Final = frozenset(
    {InstanceStatus.WAITING_FOR_TIMER, InstanceStatus.WAITING_FOR_EVENT, InstanceStatus.WAITING_FOR_MESSAGE}
)
ACTIVE_STATUSES: Final = frozenset({InstanceStatus.RUNNING, InstanceStatus.COMPENSATING})
ALL_STATUSES: Final = FINISHED_STATUSES | WAITING_STATUSES | ACTIVE_STATUSES


class Unset:
    """The type of :data:`UNSET` (one instance)."""

    _instance: Unset | None = None

    def __new__(cls) -> Unset:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET: Final[Unset] = Unset()
"""Marks an :class:`InstanceUpdate` field that is left unchanged."""


class _RecordMapping(Mapping[str, Any]):
    """Read-only mapping over a dataclass's fields (dict-style access for users)."""

    __slots__ = ()

    def __getitem__(self, key: str) -> Any:
        if key in self._field_names():
            return getattr(self, key)
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._field_names())

    def __len__(self) -> int:
        return len(self._field_names())

    @classmethod
    def _field_names(cls) -> tuple[str, ...]:
        names = cls.__dict__.get("_names_cache")
        if names is None:
            names = tuple(f.name for f in fields(cls))  # type: ignore[arg-type]
            cls._names_cache = names  # type: ignore[attr-defined]
        return names


@dataclass(frozen=True, eq=True)
class InstanceRecord(_RecordMapping):
    """A workflow instance as stored.

    ``owner_id``/``lease_epoch``/``lease_expires_at`` form the lease: the worker that may run the instance now,
    a counter bumped on every claim (the fencing token), and when the claim lapses unless renewed.
    """

    instance_id: str
    workflow_name: str
    status: str
    input_data: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    output_data: Any = None
    error: ErrorInfo | dict[str, Any] | None = None
    completed_at: datetime | None = None
    owner_id: str | None = None
    lease_epoch: int = 0
    lease_expires_at: datetime | None = None
    wake_at: datetime | None = None
    wait: WaitInfo | dict[str, Any] | None = None
    cancel_requested: bool = False
    iteration: int = 0
    lock_timeout_seconds: float | None = None

    __hash__ = None  # type: ignore[assignment]  # records hold dicts

    @property
    def started_at(self) -> datetime:
        """When the instance was created (alias used by ``find_instances(started_after=...)``)."""
        return self.created_at

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES


@dataclass(frozen=True, eq=True)
class HistoryEvent(_RecordMapping):
    """One entry of an instance's history.

    ``seq`` is assigned by the storage, strictly increasing in commit order (never derived from the clock).
    ``iteration`` counts ``ctx.recur()`` restarts; older iterations are the archived history.
    ``payload`` holds a ``bytes`` result (``event_data`` then says ``"result_encoding": "bytes"``).
    """

    instance_id: str
    seq: int
    activity_id: str
    event_type: str
    event_data: dict[str, Any]
    created_at: datetime
    iteration: int = 0
    payload: bytes | None = None

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True, eq=True)
class OutboxEvent(_RecordMapping):
    """A CloudEvent waiting in (or sent from) the transactional outbox.

    ``status``: ``pending`` (to send), ``published``, ``failed`` (permanently: a 4xx answer or too many attempts)
    or ``expired`` (older than the relayer's ``max_age_hours``). ``seq`` orders events (commit order).
    """

    event_id: str
    event_type: str
    event_source: str
    data: Any
    content_type: str
    created_at: datetime
    instance_id: str | None = None
    status: str = "pending"
    attempts: int = 0
    last_error: str | None = None
    next_attempt_at: datetime | None = None
    extensions: dict[str, Any] = field(default_factory=dict)
    seq: int = 0
    claimed_by: str | None = None
    claim_expires_at: datetime | None = None
    published_at: datetime | None = None

    __hash__ = None  # type: ignore[assignment]


OUTBOX_STATUSES: Final = frozenset(OutboxStatus)


@dataclass(frozen=True)
class Fence:
    """Proof of ownership checked on every write: the writer's worker id and the lease epoch it claimed."""

    instance_id: str
    worker_id: str
    epoch: int


@dataclass(frozen=True)
class NewInstance:
    """What ``create_instance`` stores. The creating worker owns the new instance (epoch 1)."""

    instance_id: str
    workflow_name: str
    input_data: dict[str, Any]
    owner_id: str
    now: datetime
    lease_expires_at: datetime
    lock_timeout_seconds: float | None = None


@dataclass(frozen=True)
class NewHistoryEvent:
    """A history entry to append (the storage assigns ``seq`` and ``created_at``)."""

    activity_id: str
    event_type: str
    event_data: dict[str, Any]
    payload: bytes | None = None


@dataclass(frozen=True)
class NewOutboxEvent:
    """A CloudEvent to put in the outbox, atomically with the step that sends it."""

    event_id: str
    event_type: str
    event_source: str
    data: Any
    content_type: str = "application/json"
    extensions: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class NewMessage:
    """A channel message to publish. ``target_instance_id`` makes it a direct message for that instance only."""

    message_id: str
    channel: str
    data: Any
    metadata: dict[str, Any] = field(default_factory=dict)
    target_instance_id: str | None = None


@dataclass(frozen=True, eq=True)
class ChannelMessageRecord(_RecordMapping):
    """A published channel message. ``seq`` orders messages (assigned by the storage, commit order)."""

    seq: int
    message_id: str
    channel: str
    data: Any
    metadata: dict[str, Any]
    published_at: datetime
    target_instance_id: str | None = None

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True)
class Subscribe:
    """Subscribe the committing instance to ``channel``.

    ``mode``: ``"broadcast"`` (every message published after subscribing), ``"competing"`` (each message to one
    subscriber, including messages published before), ``"direct"`` (only messages targeted at this instance), or
    ``None`` (the channel's current mode, else broadcast). Subscribing again with the same mode changes nothing.
    """

    channel: str
    mode: str | None = "broadcast"


@dataclass(frozen=True)
class Unsubscribe:
    channel: str


@dataclass(frozen=True)
class InstanceUpdate:
    """Changes to an instance; fields left :data:`UNSET` are unchanged.

    ``release_lease`` clears the owner (the instance may then be claimed by any worker);
    ``lease_expires_at`` extends the current owner's lease.
    """

    status: str | Unset = UNSET
    output_data: Any = UNSET
    error: ErrorInfo | dict[str, Any] | Unset | None = UNSET
    completed_at: datetime | Unset | None = UNSET
    wake_at: datetime | Unset | None = UNSET
    wait: WaitInfo | dict[str, Any] | Unset | None = UNSET
    iteration: int | Unset = UNSET
    input_data: dict[str, Any] | Unset = UNSET
    lease_expires_at: datetime | Unset | None = UNSET
    release_lease: bool = False

    def changes(self) -> dict[str, Any]:
        """The fields that are set, as a dict (``release_lease`` excluded)."""
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name != "release_lease" and getattr(self, f.name) is not UNSET
        }


@dataclass(frozen=True)
class StepCommit:
    """One atomic write of the engine: history entries, an instance update and outbox events.

    The storage applies all of it or nothing, and only if ``fence`` still holds (the instance's owner and lease
    epoch match); otherwise it raises :class:`edda.exceptions.LeaseLostError` and writes nothing.
    An update that sets a new ``iteration`` (``ctx.recur()``) starts an empty current history; older iterations stay
    stored. The commit's own history entries belong to the iteration the instance had before the update.
    ``messages`` are published (waking their waiting receivers, reported in ``StepOutcome.woken``);
    ``subscriptions`` are applied in order. When the update finishes the instance (completed/failed/cancelled), all
    its subscriptions are removed.
    """

    fence: Fence
    now: datetime
    history: tuple[NewHistoryEvent, ...] = ()
    update: InstanceUpdate | None = None
    outbox: tuple[NewOutboxEvent, ...] = ()
    messages: tuple[NewMessage, ...] = ()
    subscriptions: tuple[Subscribe | Unsubscribe, ...] = ()


@dataclass(frozen=True)
class StepOutcome:
    """What the storage reports back after a commit.

    Attributes:
        cancel_requested: the instance has been flagged for cancellation.
        woken: instances made runnable by the commit's messages (the app resumes local ones at once).
    """

    cancel_requested: bool = False
    woken: tuple[str, ...] = ()


@dataclass(frozen=True)
class InstanceQuery:
    """Filters of ``find_instances``; validated by the app before they reach a storage."""

    status: str | None = None
    workflow_name: str | None = None
    instance_id: str | None = None
    started_after: datetime | None = None
    started_before: datetime | None = None
    input_filters: tuple[tuple[str, Any], ...] = ()
    limit: int = 50
    cursor: tuple[datetime, str] | None = None


@dataclass(frozen=True)
class InstancePage:
    """One page of ``find_instances``, newest first; ``next_cursor`` is ``None`` on the last page."""

    instances: list[InstanceRecord]
    next_cursor: tuple[datetime, str] | None = None


@dataclass(frozen=True)
class StorageCapabilities:
    """What a backend supports; the conformance kit skips what is not claimed.

    Attributes:
        sessions: ``ctx.session`` gives a database session inside activities.
        multi_process: several processes may share the database safely.
        single_process_takeover: only one process uses the database, so a starting app may take over leases left
            by a dead process at once instead of waiting for them to expire.
        max_payload_bytes: the largest stored value, or ``None``.
        detects_dead_workers: ``claim_runnable`` treats leases of workers whose process died (their registration,
            tied to a database session, is gone) as expired, so their instances are resumed within a recovery pass.
    """

    sessions: bool = False
    multi_process: bool = False
    single_process_takeover: bool = True
    max_payload_bytes: int | None = None
    detects_dead_workers: bool = False
