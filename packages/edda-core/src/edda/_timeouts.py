"""Timeouts: an activity attempt's start-to-close limit and a workflow's execution deadline, both durable.

**Activity attempts** (``@activity(timeout_seconds=...)``). Before an attempt runs, an ``ActivityAttemptStarted``
entry records when it started (only for activities that declare a timeout: the others pay nothing). The attempt
runs under an ``asyncio`` timeout that ends at start + timeout; when it expires the attempt fails with
:class:`~edda.exceptions.ActivityTimeoutError`, which the retry policy sees like any other error. If the process dies
during the attempt, the run that resumes the instance finds the recorded start without an outcome: the attempt keeps
its original deadline (re-run for the time left, or failed at once as timed out when it has passed), so a crash
never resets the clock.

**Workflow executions** (``@workflow(execution_timeout_seconds=...)``). The deadline is the instance's ``created_at``
(stored) plus the timeout, so no clock restarts with a run, a crash or ``ctx.recur()``. Past it, the run cancels
itself: at its next step, or at once if it is inside an activity (the attempt is interrupted and rolled back); a
waiting instance's ``wake_at`` is never later than its deadline, so a worker wakes it then. The instance runs its
compensations and ends ``cancelled`` with an error record whose message says ``execution timeout of N s exceeded``.

Why ``asyncio.timeout`` around the attempt only, never around the whole workflow function: cancelling a run while
it commits could leave a write whose outcome is unknown; an attempt holds no engine write (its result is committed
after it returns), and its own transaction is rolled back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TypeVar

from edda._errors import error_info
from edda._run import RunState
from edda.exceptions import ActivityTimeoutError, WorkflowCancelledException
from edda.storage.records import HistoryEventType, NewHistoryEvent

__all__ = [
    "DeadlineReached",
    "attempt_deadline",
    "bounded",
    "cancelled_error",
    "deadline_passed",
    "earliest",
    "execution_deadline",
    "until_deadline",
]

T = TypeVar("T")


class DeadlineReached(Exception):
    """The workflow's execution deadline interrupted an activity attempt (internal: the activity turns it into the
    run's cancellation; never recorded as the activity's failure)."""


def execution_deadline(created_at: datetime, seconds: float | None) -> datetime | None:
    """When an instance started at ``created_at`` runs out of time (``None``: no execution timeout)."""
    return None if seconds is None else created_at + timedelta(seconds=seconds)


def earliest(moment: datetime | None, deadline: datetime | None) -> datetime | None:
    """The earlier of a wait's wake-up and the execution deadline (either may be ``None``)."""
    if moment is None or deadline is None:
        return moment if deadline is None else deadline
    return min(moment, deadline)


def deadline_passed(run: RunState, *, reached: bool = False) -> bool:
    """Whether the run's execution deadline has passed (``reached``: an attempt's timer says it has); the first time
    it is seen, the run becomes cancelled, with the reason in ``run.cancel_info``."""
    if run.cancel_info is not None:
        return True
    if run.deadline is None or (not reached and run.host.clock.now() < run.deadline):
        return False
    seconds = float(run.execution_timeout or 0.0)
    reason = f"execution timeout of {seconds:g} s exceeded"
    exc = WorkflowCancelledException(f"Workflow instance {run.instance_id!r} was cancelled: {reason}")
    run.cancel_info = error_info(exc) | {
        "reason": "execution_timeout",
        "execution_timeout_seconds": seconds,
        "deadline": run.deadline.isoformat(),
    }
    run.cancel_requested = True
    return True


def cancelled_error(run: RunState) -> WorkflowCancelledException:
    """What workflow code sees at its next step once the instance is cancelled (by request, or by its deadline)."""
    if run.cancel_info is not None:
        return WorkflowCancelledException(run.cancel_info["message"])
    return WorkflowCancelledException(f"Workflow instance {run.instance_id!r} was cancelled")


def until_deadline(run: RunState, seconds: float) -> float:
    """``seconds``, cut short so that a wait (a retry's backoff) ends by the execution deadline."""
    if run.deadline is None:
        return seconds
    return max(0.0, min(seconds, (run.deadline - run.host.clock.now()).total_seconds()))


async def attempt_deadline(run: RunState, step_id: str, name: str, attempt: int, seconds: float) -> datetime:
    """When attempt ``attempt`` of activity step ``step_id`` must end.

    An attempt recorded as started but never ended (the process died during it) keeps its recorded start; a new
    attempt's start is recorded first (with whatever the run has pending), so a crash during it cannot reset it.
    """
    marker = run.attempt_starts.get(step_id)
    if marker is not None and marker.event_data.get("attempt") == attempt:
        started = datetime.fromisoformat(marker.event_data["started_at"])
        return started + timedelta(seconds=float(marker.event_data.get("timeout_seconds", seconds)))
    started = run.host.clock.now()
    data = {"activity_name": name, "attempt": attempt, "timeout_seconds": seconds, "started_at": started.isoformat()}
    await run.flush(extra=[NewHistoryEvent(step_id, HistoryEventType.ACTIVITY_ATTEMPT_STARTED, data)])
    return started + timedelta(seconds=seconds)


async def bounded(
    call: Callable[[], Awaitable[T]], run: RunState, activity_deadline: datetime | None, timed_out: str
) -> T:
    """Run ``call()`` until the earlier of ``activity_deadline`` and the run's execution deadline.

    Raises:
        ActivityTimeoutError: the activity's deadline came first (message ``timed_out``); ``call`` is not even
            started if it has passed.
        DeadlineReached: the execution deadline came first.
    """
    limits = [d for d in (activity_deadline, run.deadline) if d is not None]
    if not limits:
        return await call()
    first = min(limits)
    workflow_first = run.deadline is not None and run.deadline <= first
    remaining = (first - run.host.clock.now()).total_seconds()
    if remaining > 0:
        timeout = asyncio.timeout(remaining)
        try:
            async with timeout:
                return await call()
        except TimeoutError:
            if not timeout.expired():  # the activity's own TimeoutError, not ours
                raise
    if workflow_first:
        raise DeadlineReached(timed_out)
    raise ActivityTimeoutError(timed_out)
