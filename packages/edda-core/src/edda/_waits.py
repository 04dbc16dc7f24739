"""Durable waits: timers (``sleep``, ``sleep_until``) and channel receives (``receive``, ``wait_event``).

A wait is a step like an activity. When the code reaches a new wait, the engine commits what it waits for (the
instance's ``wait`` and ``wake_at``), releases the lease and ends the run: no task, coroutine or frame stays in
memory. When the wait is over (the timer is due, a message arrives, the timeout passes), any worker claims the
instance and replays it; the wait then returns its recorded outcome (``TimerFired``, ``MessageReceived``,
``ReceiveTimedOut``) and the code continues. Timers use the wake-up time recorded when the wait began, so
replays never extend a sleep. With an execution timeout (``@workflow(execution_timeout_seconds=...)``) a wait's
``wake_at`` is never later than the instance's deadline, so a worker wakes it then and it is cancelled.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from edda._context import WorkflowContext
from edda._run import RunState, Suspend, current_scope
from edda._timeouts import cancelled_error, deadline_passed, earliest
from edda.exceptions import EventTimeoutError
from edda.serialization import from_storable
from edda.storage.records import (
    ChannelMessageRecord,
    HistoryEvent,
    HistoryEventType,
    InstanceStatus,
    InstanceUpdate,
    NewHistoryEvent,
)

__all__ = ["check_channel_name", "check_timeout", "receive_step", "sleep", "sleep_until", "wait_timer", "wait_until"]

MAX_WAIT_SECONDS = 100 * 365 * 24 * 3600  # a century: beyond that it is a bug, not a reminder


class ReceiveTimeoutError(EventTimeoutError, TimeoutError):
    """``receive()`` timed out (also a builtin ``TimeoutError``, as the channel API documents)."""


def check_timeout(value: Any, name: str = "timeout_seconds") -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a number of seconds or None, got {value!r}")
    if value < 0 or value > MAX_WAIT_SECONDS:
        raise ValueError(f"{name} must be between 0 and {MAX_WAIT_SECONDS} seconds (100 years), got {value!r}")
    return float(value)


def check_channel_name(channel: Any, what: str = "channel") -> str:
    if not isinstance(channel, str) or not channel or len(channel) > 255:
        raise ValueError(f"{what} must be a non-empty string of at most 255 characters, got {channel!r}")
    return channel


def _in_workflow(ctx: Any, what: str) -> RunState:
    if not isinstance(ctx, WorkflowContext):
        raise TypeError(f"{what}() takes the WorkflowContext as its first argument, got {type(ctx).__name__}")
    if current_scope.get() is not None:
        raise RuntimeError(f"{what}() belongs in workflow code, not inside an activity (an activity cannot wait).")
    return ctx._run


def _parse(moment: str | None) -> datetime | None:
    return None if moment is None else datetime.fromisoformat(moment)


async def _timer(ctx: WorkflowContext, what: str, timer_id: str | None, wake_at_fn: Any) -> None:
    run = _in_workflow(ctx, what)
    step_id = timer_id or run.next_auto_id("sleep")
    if (
        run.claim_step(step_id, event_types=frozenset({HistoryEventType.TIMER_FIRED}), name="timer", name_key="kind")
        is not None
    ):
        return
    await run.check_new_step(step_id, "timer 'timer'")
    if run.cancel_requested or deadline_passed(run):
        raise cancelled_error(run)
    now = run.host.clock.now()
    recorded = run.wait if run.wait and run.wait.get("step_id") == step_id else None
    wake_at = _parse(recorded.get("wake_at")) if recorded else None
    if wake_at is None:
        wake_at = wake_at_fn(now)
    if wake_at <= now:
        run.add_pending(
            [NewHistoryEvent(step_id, HistoryEventType.TIMER_FIRED, {"kind": "timer", "wake_at": wake_at.isoformat()})],
            [],
            [],
        )
        return
    await run.suspend(
        InstanceUpdate(
            status=InstanceStatus.WAITING_FOR_TIMER,
            wake_at=earliest(wake_at, run.deadline),
            release_lease=True,
            wait={"kind": "timer", "step_id": step_id, "wake_at": wake_at.isoformat()},
        )
    )


async def sleep(ctx: WorkflowContext, seconds: float, timer_id: str | None = None) -> None:
    """Pause the workflow durably for ``seconds``; the worker is released meanwhile.

    The workflow resumes on any worker once the time has passed, even across restarts.

    Raises:
        ValueError: ``seconds`` is negative, not a number, or more than 100 years.
    """
    duration = check_timeout(seconds, "seconds")
    assert duration is not None
    await _timer(ctx, "sleep", timer_id, lambda now: now + timedelta(seconds=duration))


async def sleep_until(ctx: WorkflowContext, target_time: datetime, timer_id: str | None = None) -> None:
    """Pause the workflow durably until ``target_time`` (timezone-aware); returns at once if it has passed.

    Raises:
        ValueError: ``target_time`` is naive (no timezone) or not a datetime.
    """
    if not isinstance(target_time, datetime):
        raise ValueError(f"sleep_until() needs a datetime, got {type(target_time).__name__}")
    if target_time.tzinfo is None or target_time.utcoffset() is None:
        raise ValueError(
            "sleep_until() needs a timezone-aware datetime (a naive one is ambiguous across machines): "
            "use datetime(..., tzinfo=UTC) or datetime.now(UTC) + timedelta(...)."
        )
    await _timer(ctx, "sleep_until", timer_id, lambda now: target_time)


async def wait_timer(ctx: WorkflowContext, duration_seconds: float, timer_id: str | None = None) -> None:
    """Alias of :func:`sleep` (the older name)."""
    await sleep(ctx, duration_seconds, timer_id=timer_id)


async def wait_until(ctx: WorkflowContext, until_time: datetime, timer_id: str | None = None) -> None:
    """Alias of :func:`sleep_until` (the older name)."""
    await sleep_until(ctx, until_time, timer_id=timer_id)


async def receive_step(
    ctx: WorkflowContext,
    what: str,
    channel: str,
    *,
    timeout_seconds: float | None,
    step_id: str | None,
    counter: str,
    kind: str,
) -> HistoryEvent:
    """The shared core of ``receive`` and ``wait_event``: returns the ``MessageReceived`` history entry."""
    run = _in_workflow(ctx, what)
    channel = check_channel_name(channel, "event_type" if kind == "event" else "channel")
    timeout = check_timeout(timeout_seconds)
    step_id = step_id or run.next_auto_id(counter)
    recorded = run.claim_step(
        step_id,
        event_types=frozenset({HistoryEventType.MESSAGE_RECEIVED, HistoryEventType.RECEIVE_TIMED_OUT}),
        name=channel,
        name_key="channel",
    )
    if recorded is None:
        await run.check_new_step(step_id, f"receive on channel {channel!r}")
        recorded = await _receive_new(run, channel, step_id, timeout, kind)
    if recorded.event_type == HistoryEventType.RECEIVE_TIMED_OUT:
        error = EventTimeoutError if kind == "event" else ReceiveTimeoutError
        raise error(
            f"No {'event' if kind == 'event' else 'message'} on {channel!r} within "
            f"{recorded.event_data.get('timeout_seconds')} s"
        )
    return recorded


async def _receive_new(run: RunState, channel: str, step_id: str, timeout: float | None, kind: str) -> HistoryEvent:
    if run.cancel_requested or deadline_passed(run):
        raise cancelled_error(run)
    now = run.host.clock.now()
    recorded = run.wait if run.wait and run.wait.get("step_id") == step_id else None
    if recorded is not None:
        timeout_at = _parse(recorded.get("timeout_at"))
    else:
        timeout_at = None if timeout is None else now + timedelta(seconds=timeout)
    timed_out = timeout_at is not None and timeout_at <= now
    status = InstanceStatus.WAITING_FOR_EVENT if kind == "event" else InstanceStatus.WAITING_FOR_MESSAGE
    wait = (
        None
        if timed_out
        else InstanceUpdate(
            status=status,
            wake_at=earliest(timeout_at, run.deadline),  # woken at the execution deadline, if that comes first
            release_lease=True,
            wait={
                "kind": kind,
                "step_id": step_id,
                "channel": channel,
                "timeout_at": None if timeout_at is None else timeout_at.isoformat(),
                "timeout_seconds": timeout,
            },
        )
    )
    message = await run.receive(channel, step_id, wait)
    if message is not None:
        return _received(run, channel, step_id, message, now)
    if timed_out:
        data = {"channel": channel, "kind": kind, "timeout_seconds": (recorded or {}).get("timeout_seconds", timeout)}
        run.add_pending([NewHistoryEvent(step_id, HistoryEventType.RECEIVE_TIMED_OUT, data)], [], [])
        return HistoryEvent(
            instance_id=run.instance_id,
            seq=0,
            activity_id=step_id,
            event_type=HistoryEventType.RECEIVE_TIMED_OUT,
            event_data=data,
            created_at=now,
        )
    raise Suspend()


def _received(run: RunState, channel: str, step_id: str, message: ChannelMessageRecord, now: datetime) -> HistoryEvent:
    """The ``MessageReceived`` entry the storage recorded with the message it handed over."""
    data = message.data
    is_bytes = isinstance(data, bytes)
    return HistoryEvent(
        instance_id=run.instance_id,
        seq=message.seq,
        activity_id=step_id,
        event_type=HistoryEventType.MESSAGE_RECEIVED,
        event_data={
            "channel": channel,
            "message_id": message.message_id,
            "seq": message.seq,
            "data": None if is_bytes else data,
            "metadata": message.metadata,
            "published_at": message.published_at.isoformat(),
            "target_instance_id": message.target_instance_id,
        }
        | ({"data_encoding": "bytes"} if is_bytes else {}),
        created_at=now,
        payload=data if is_bytes else None,
    )


def message_payload(event: HistoryEvent) -> Any:
    if event.event_data.get("data_encoding") == "bytes":
        return event.payload
    return from_storable(event.event_data.get("data"))
