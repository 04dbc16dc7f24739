"""An instance's history as the detail page shows it: steps, compensations and messages (no NiceGUI here).

The history is a list of entries; a step may own several (an activity's failed attempts, then its result, then the
compensation attached to it). This module groups them into steps in the order they began.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from edda.storage.records import HistoryEvent, HistoryEventType, InstanceRecord, InstanceStatus

__all__ = [
    "CompensationView",
    "MessageView",
    "StepKind",
    "TimelineStep",
    "build_timeline",
    "compensations",
    "messages",
    "waiting_step",
]

T = HistoryEventType
_ACTIVITY = frozenset({T.ACTIVITY_ATTEMPT_FAILED, T.ACTIVITY_COMPLETED, T.ACTIVITY_FAILED})


class StepKind(StrEnum):
    """What a timeline step is."""

    ACTIVITY = "activity"
    COMPENSATION = "compensation"
    REGISTRATION = "compensation registered"
    TIMER = "timer"
    RECEIVE = "receive"
    PUBLISH = "publish"
    SUBSCRIBE = "subscribe"
    UNSUBSCRIBE = "unsubscribe"
    SEND_EVENT = "send event"
    WAIT = "waiting"
    OTHER = "other"


@dataclass
class TimelineStep:
    """One step of the timeline.

    Attributes:
        step_id: the step's id in the history (``reserve_inventory:1``), or the awaited step for a wait.
        outcome: ``completed``, ``failed``, ``retrying``, ``executed``, ``registered``, ``received``, ``timed out``,
            ``fired``, ``published``, ``sent``, ``subscribed``, ``unsubscribed`` or ``waiting``.
        duration_ms: an activity's recorded duration (all attempts); for a wait, the time it waited.
        attempts: how many times an activity ran.
        errors: each failed attempt's ``{"attempt", "error_type", "message"}``.
        error: the final error of a failed step (``error_type``, ``message``, maybe ``traceback``).
        detail: what else to show (a result, a message's data, arguments).
        compensation: the compensation attached to this activity, by name.
    """

    step_id: str
    kind: StepKind
    name: str
    outcome: str
    at: datetime | None
    seqs: list[int] = field(default_factory=list)
    duration_ms: int | None = None
    attempts: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, Any] | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    compensation: str | None = None


@dataclass(frozen=True)
class CompensationView:
    """A registered compensation: ``pending`` until it runs, then ``executed`` or ``failed``."""

    step_id: str
    name: str
    for_step: str | None
    status: str
    error: dict[str, Any] | None = None
    at: datetime | None = None


@dataclass(frozen=True)
class MessageView:
    """A message or event the instance received, published or sent."""

    direction: str
    channel: str
    step_id: str
    at: datetime
    message_id: str | None = None
    data: Any = None


def _data_of(event: HistoryEvent) -> Any:
    if event.payload is not None:
        return f"<{len(event.payload)} bytes>"
    data = event.event_data
    return data.get("result", data.get("data"))


def _activity(step: TimelineStep, event: HistoryEvent) -> None:
    data = event.event_data
    step.name = str(data.get("activity_name") or step.name)
    if event.event_type == T.ACTIVITY_ATTEMPT_FAILED:
        step.attempts = max(step.attempts, int(data.get("attempt") or 0))
        step.errors.append({"attempt": data.get("attempt"), **(data.get("error") or {})})
        step.outcome = "retrying"
        return
    meta = data.get("retry_metadata") or {}
    step.attempts = int(meta.get("total_attempts") or step.attempts or 1)
    step.duration_ms = meta.get("total_duration_ms")
    recorded = [e for e in meta.get("errors") or [] if e not in step.errors]
    step.errors.extend(recorded)
    if event.event_type == T.ACTIVITY_COMPLETED:
        step.outcome = "completed"
        step.detail["result"] = _data_of(event)
    else:
        step.outcome = "failed"
        step.error = data.get("error")


_SIMPLE: dict[str, tuple[StepKind, str, str]] = {
    T.TIMER_FIRED: (StepKind.TIMER, "fired", "kind"),
    T.MESSAGE_RECEIVED: (StepKind.RECEIVE, "received", "channel"),
    T.RECEIVE_TIMED_OUT: (StepKind.RECEIVE, "timed out", "channel"),
    T.MESSAGE_PUBLISHED: (StepKind.PUBLISH, "published", "channel"),
    T.CHANNEL_SUBSCRIBED: (StepKind.SUBSCRIBE, "subscribed", "channel"),
    T.CHANNEL_UNSUBSCRIBED: (StepKind.UNSUBSCRIBE, "unsubscribed", "channel"),
    T.EVENT_SENT: (StepKind.SEND_EVENT, "sent", "event_type"),
    T.COMPENSATION_REGISTERED: (StepKind.REGISTRATION, "registered", "compensation_name"),
    T.COMPENSATION_EXECUTED: (StepKind.COMPENSATION, "executed", "compensation_name"),
    T.COMPENSATION_FAILED: (StepKind.COMPENSATION, "failed", "compensation_name"),
}


def _simple(event: HistoryEvent, previous: HistoryEvent | None) -> TimelineStep:
    kind, outcome, name_key = _SIMPLE.get(event.event_type, (StepKind.OTHER, event.event_type, "name"))
    data = event.event_data
    step = TimelineStep(event.activity_id, kind, str(data.get(name_key) or event.event_type), outcome, event.created_at)
    step.seqs.append(event.seq)
    if kind in (StepKind.TIMER, StepKind.RECEIVE) and previous is not None:
        step.duration_ms = int((event.created_at - previous.created_at).total_seconds() * 1000)
    if event.event_type == T.TIMER_FIRED:
        step.name = "sleep"
        step.detail["wake_at"] = data.get("wake_at")
    elif event.event_type == T.MESSAGE_RECEIVED:
        step.detail = {"data": _data_of(event), "metadata": data.get("metadata"), "message_id": data.get("message_id")}
    elif event.event_type == T.COMPENSATION_REGISTERED:
        step.detail = {"for_activity": data.get("for_activity"), "args": data.get("args"), "kwargs": data.get("kwargs")}
    elif event.event_type in (T.COMPENSATION_FAILED,):
        step.error = data.get("error")
    elif kind is StepKind.OTHER:
        step.detail = dict(data)
    return step


def build_timeline(history: Sequence[HistoryEvent]) -> list[TimelineStep]:
    """The steps of ``history`` in the order they began."""
    steps: list[TimelineStep] = []
    activities: dict[str, TimelineStep] = {}
    previous: HistoryEvent | None = None
    for event in history:
        if event.event_type in _ACTIVITY:
            step = activities.get(event.activity_id)
            if step is None:
                step = TimelineStep(
                    event.activity_id, StepKind.ACTIVITY, event.activity_id, "running", event.created_at
                )
                activities[event.activity_id] = step
                steps.append(step)
            step.seqs.append(event.seq)
            _activity(step, event)
        elif event.event_type == T.ACTIVITY_ATTEMPT_STARTED:  # an activity with a timeout: its attempt began
            pass
        elif event.event_type == T.COMPENSATION_ATTACHED:
            owner = activities.get(event.activity_id)
            if owner is not None:
                owner.compensation = str(event.event_data.get("compensation_name"))
                owner.seqs.append(event.seq)
        else:
            steps.append(_simple(event, previous))
        previous = event
    return steps


def waiting_step(record: InstanceRecord) -> TimelineStep | None:
    """What a waiting instance waits for, as a last step (None when it is not waiting)."""
    wait = record.wait or {}
    if not wait or record.status in (InstanceStatus.COMPLETED, InstanceStatus.FAILED, InstanceStatus.CANCELLED):
        return None
    kind = str(wait.get("kind") or "wait")
    target = wait.get("channel") or wait.get("wake_at") or ""
    step = TimelineStep(str(wait.get("step_id") or ""), StepKind.WAIT, f"{kind} {target}".strip(), "waiting", None)
    step.detail = {k: v for k, v in wait.items() if k in ("wake_at", "channel", "timeout_at", "timeout_seconds") and v}
    return step


def compensations(history: Sequence[HistoryEvent]) -> list[CompensationView]:
    """Every compensation registered in ``history``, in registration order, with what became of it."""
    registered: dict[str, tuple[str, str | None, datetime]] = {}
    done: dict[str, HistoryEvent] = {}
    for event in history:
        data = event.event_data
        if event.event_type == T.COMPENSATION_REGISTERED:
            registered[event.activity_id] = (
                str(data.get("compensation_name")),
                data.get("for_activity"),
                event.created_at,
            )
        elif event.event_type == T.COMPENSATION_ATTACHED:
            registered[event.activity_id] = (str(data.get("compensation_name")), event.activity_id, event.created_at)
        elif event.event_type in (T.COMPENSATION_EXECUTED, T.COMPENSATION_FAILED):
            done[event.activity_id] = event
    views = []
    for step_id, (name, for_step, at) in registered.items():
        end = done.get(step_id)
        if end is None:
            views.append(CompensationView(step_id, name, for_step, "pending", at=at))
        else:
            failed = end.event_type == T.COMPENSATION_FAILED
            status = "failed" if failed else "executed"
            error = end.event_data.get("error") if failed else None
            views.append(CompensationView(step_id, name, for_step, status, error, end.created_at))
    return views


_DIRECTIONS: dict[str, str] = {
    T.MESSAGE_RECEIVED: "received",
    T.RECEIVE_TIMED_OUT: "timed out",
    T.MESSAGE_PUBLISHED: "published",
    T.EVENT_SENT: "event sent",
}


def messages(history: Sequence[HistoryEvent]) -> list[MessageView]:
    """Messages and events the instance received, published or sent, and receives that timed out."""
    views = []
    for event in history:
        direction = _DIRECTIONS.get(event.event_type)
        if direction is None:
            continue
        data = event.event_data
        channel = str(data.get("channel") or data.get("event_type") or "")
        message_id = data.get("message_id") or data.get("event_id")
        payload = _data_of(event) if event.event_type == T.MESSAGE_RECEIVED else None
        views.append(MessageView(direction, channel, event.activity_id, event.created_at, message_id, payload))
    return views
