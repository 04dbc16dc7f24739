"""Activity timeouts (start to close, per attempt, retried by the policy) and workflow execution timeouts (cancel with
compensations, waits woken at the deadline), on the reference storage; a crash keeps both clocks.

The crash tests here drop an app in-process (``simulate_crash``) on a fake clock, which can be moved past a deadline
while no process runs; the same guarantees with real processes killed by SIGKILL, on SQLite, PostgreSQL and MySQL,
are in ``test_timeouts_durable.py``.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta
from typing import Any

import pytest

from edda import (
    ActivityTimeoutError,
    ConfigurationError,
    EddaApp,
    EddaError,
    RetryExhaustedError,
    RetryPolicy,
    WorkflowCancelledException,
    WorkflowContext,
    activity,
    compensation,
    on_failure,
    sleep,
    wait_event,
    workflow,
)
from edda._errors import rebuild_error
from edda.storage.memory import InMemoryStorage
from edda.testing import FakeClock, simulate_crash

FAST = RetryPolicy(max_attempts=3, initial_interval=0.0)


async def events(app: EddaApp, iid: str) -> list[tuple[str, dict[str, Any]]]:
    return [(e.event_type, e.event_data) for e in await app.storage.get_history(iid)]


async def wait_until(check: Any, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not await check():
        assert loop.time() < end, "condition never became true"
        await asyncio.sleep(0.01)


# -- activities ---------------------------------------------------------------------------------------------------


def test_activity_timeout_error_is_a_retryable_timeout() -> None:
    assert issubclass(ActivityTimeoutError, EddaError) and issubclass(ActivityTimeoutError, TimeoutError)
    assert RetryPolicy().is_retryable(ActivityTimeoutError("late"))
    assert not RetryPolicy(non_retryable_error_types=(ActivityTimeoutError,)).is_retryable(ActivityTimeoutError("x"))


async def test_a_late_attempt_times_out_and_the_next_attempt_runs(app: EddaApp) -> None:
    runs: list[int] = []
    interrupted: list[int] = []

    @activity(timeout_seconds=0.2, retry_policy=FAST)
    async def to_slow_api(ctx: WorkflowContext) -> str:
        runs.append(len(runs) + 1)
        if len(runs) < 3:
            try:
                await asyncio.Event().wait()  # never set: only the timeout ends this attempt
            except asyncio.CancelledError:
                interrupted.append(len(runs))
                raise
        return "answered"

    @workflow
    async def timeout_retried(ctx: WorkflowContext) -> str:
        return await to_slow_api(ctx)

    iid = await timeout_retried.start()
    assert await app.wait_for_result(iid, timeout=10) == "answered"
    assert runs == [1, 2, 3] and interrupted == [1, 2]  # the late attempts were cancelled, not left running
    history = await events(app, iid)
    assert [kind for kind, _ in history] == ["ActivityAttemptStarted", "ActivityAttemptFailed"] * 2 + [
        "ActivityAttemptStarted",
        "ActivityCompleted",
    ]
    started = [data for kind, data in history if kind == "ActivityAttemptStarted"]
    assert [(d["attempt"], d["timeout_seconds"]) for d in started] == [(1, 0.2), (2, 0.2), (3, 0.2)]
    failed = [data["error"] for kind, data in history if kind == "ActivityAttemptFailed"]
    assert [e["error_type"] for e in failed] == ["ActivityTimeoutError", "ActivityTimeoutError"]
    assert "'to_slow_api' (attempt 2) did not finish within its timeout of 0.2 s" in failed[1]["message"]
    assert history[-1][1]["retry_metadata"]["total_attempts"] == 3


async def test_timeouts_on_every_attempt_exhaust_the_policy(app: EddaApp) -> None:
    @activity(timeout_seconds=0.1, retry_policy=RetryPolicy(max_attempts=2, initial_interval=0.0))
    async def never_answers(ctx: WorkflowContext) -> None:
        await asyncio.Event().wait()

    @workflow
    async def timeout_exhausted(ctx: WorkflowContext) -> str:
        try:
            await never_answers(ctx)
        except RetryExhaustedError as exc:
            return f"{exc.total_attempts} {type(exc.__cause__).__name__}"
        return "answered?"

    iid = await timeout_exhausted.start()
    assert await app.wait_for_result(iid, timeout=10) == "2 ActivityTimeoutError"
    history = await events(app, iid)
    assert [kind for kind, _ in history].count("ActivityAttemptStarted") == 2 and history[-1][0] == "ActivityFailed"
    # A replay rebuilds the recorded failure with the same cause, so the workflow takes the same branch.
    replayed = rebuild_error(history[-1][1]["error"])
    assert isinstance(replayed, RetryExhaustedError) and isinstance(replayed.__cause__, ActivityTimeoutError)


async def test_a_policy_that_excludes_timeouts_fails_on_the_first(app: EddaApp) -> None:
    policy = RetryPolicy(max_attempts=5, initial_interval=0.0, non_retryable_error_types=(ActivityTimeoutError,))

    @activity(timeout_seconds=0.1, retry_policy=policy)
    async def once_only(ctx: WorkflowContext) -> None:
        await asyncio.Event().wait()

    @workflow
    async def timeout_not_retried(ctx: WorkflowContext) -> str:
        try:
            await once_only(ctx)
        except ActivityTimeoutError as exc:
            return str(exc)
        return "answered?"

    iid = await timeout_not_retried.start()
    message = await app.wait_for_result(iid, timeout=10)
    assert "'once_only' (attempt 1) did not finish within its timeout of 0.1 s" in message
    assert [kind for kind, _ in await events(app, iid)] == ["ActivityAttemptStarted", "ActivityFailed"]


async def test_an_activity_s_own_timeout_error_is_not_taken_for_its_timeout(app: EddaApp) -> None:
    @activity(timeout_seconds=30, retry_policy=RetryPolicy(max_attempts=1))
    async def raises_timeout(ctx: WorkflowContext) -> None:
        raise TimeoutError("the remote API timed out")

    @workflow
    async def own_timeout(ctx: WorkflowContext) -> str:
        try:
            await raises_timeout(ctx)
        except RetryExhaustedError as exc:
            return type(exc.__cause__).__name__
        except TimeoutError as exc:
            return type(exc).__name__
        return "?"

    assert await app.wait_for_result(await own_timeout.start(), timeout=10) == "TimeoutError"


async def test_a_sync_activity_past_its_timeout_is_left_to_finish_and_its_result_ignored(app: EddaApp) -> None:
    release = threading.Event()
    finished: list[str] = []

    @activity(timeout_seconds=0.1, retry_policy=RetryPolicy(max_attempts=1))
    def blocking_call(ctx: WorkflowContext) -> str:
        release.wait(10)
        finished.append("thread")
        return "late result"

    @workflow
    async def sync_timeout(ctx: WorkflowContext) -> str:
        try:
            return await blocking_call(ctx)
        except RetryExhaustedError as exc:  # one attempt allowed, and it timed out
            return f"timed out: {type(exc.__cause__).__name__}"

    iid = await sync_timeout.start()
    assert await app.wait_for_result(iid, timeout=10) == "timed out: ActivityTimeoutError"
    release.set()
    await wait_until(lambda: asyncio.sleep(0, result=finished == ["thread"]))
    assert "late result" not in str(await events(app, iid))


async def test_activities_without_a_timeout_record_no_attempt_start(app: EddaApp) -> None:
    @activity
    async def plain(ctx: WorkflowContext) -> int:
        return 1

    @workflow
    async def no_markers(ctx: WorkflowContext) -> int:
        return await plain(ctx)

    iid = await no_markers.start()
    assert await app.wait_for_result(iid, timeout=10) == 1
    assert [kind for kind, _ in await events(app, iid)] == ["ActivityCompleted"]


@pytest.mark.parametrize("bad", [0, -1, float("inf"), float("nan"), "30", True, 10**12])
def test_bad_timeouts_are_refused_with_the_option_named(bad: Any) -> None:
    async def body(ctx: WorkflowContext) -> None:
        return None

    with pytest.raises(ConfigurationError, match="@activity 'body': timeout_seconds must be"):
        activity(timeout_seconds=bad)(body)
    with pytest.raises(ConfigurationError, match="@workflow 'body': execution_timeout_seconds must be"):
        workflow(execution_timeout_seconds=bad)(body)


async def test_a_crash_during_an_attempt_keeps_its_deadline(storage: InMemoryStorage, clock: FakeClock) -> None:
    runs: list[str] = []

    @activity(timeout_seconds=60, retry_policy=FAST)
    async def remote_call(ctx: WorkflowContext) -> str:
        runs.append(ctx.worker_id)
        if len(runs) == 1:
            await asyncio.Event().wait()  # the process "dies" during this attempt
        return "answered"

    @workflow
    async def crash_in_attempt(ctx: WorkflowContext) -> str:
        return await remote_call(ctx)

    first = EddaApp(storage=storage, clock=clock, worker_id="first", recovery_interval=0.05)
    await first.initialize()
    iid = await crash_in_attempt.start()
    await wait_until(lambda: asyncio.sleep(0, result=runs == ["first"]))
    await simulate_crash(first)

    clock.advance(61)  # the attempt's deadline passes while no process runs it
    second = EddaApp(storage=storage, clock=clock, worker_id="second", recovery_interval=0.05)
    async with second:
        assert await second.wait_for_result(iid, timeout=10) == "answered"
    assert runs == ["first", "second"]  # attempt 1 was not run again: it had timed out
    history = await events(second, iid)
    assert [kind for kind, _ in history] == [
        "ActivityAttemptStarted",
        "ActivityAttemptFailed",
        "ActivityAttemptStarted",
        "ActivityCompleted",
    ]
    assert history[1][1]["attempt"] == 1 and history[1][1]["error"]["error_type"] == "ActivityTimeoutError"


async def test_an_attempt_resumed_before_its_deadline_gets_only_the_time_left(
    storage: InMemoryStorage, clock: FakeClock
) -> None:
    runs: list[str] = []

    @activity(timeout_seconds=3600, retry_policy=RetryPolicy(max_attempts=1))
    async def hangs_everywhere(ctx: WorkflowContext) -> None:
        runs.append(ctx.worker_id)
        await asyncio.Event().wait()

    @workflow
    async def crash_then_rest(ctx: WorkflowContext) -> str:
        try:
            await hangs_everywhere(ctx)
        except RetryExhaustedError as exc:
            return f"timed out: {type(exc.__cause__).__name__}"
        return "?"

    first = EddaApp(storage=storage, clock=clock, worker_id="first", recovery_interval=0.05)
    await first.initialize()
    iid = await crash_then_rest.start()
    await wait_until(lambda: asyncio.sleep(0, result=runs == ["first"]))
    await simulate_crash(first)

    clock.advance(3600 - 0.3)  # 0.3 s of the hour are left; a fresh hour would outlast this test's timeout
    async with EddaApp(storage=storage, clock=clock, worker_id="second", recovery_interval=0.05) as second:
        assert await second.wait_for_result(iid, timeout=20) == "timed out: ActivityTimeoutError"
        history = await events(second, iid)
    assert runs == ["first", "second"]  # re-run (the attempt had no outcome), as the same attempt
    assert [kind for kind, _ in history] == ["ActivityAttemptStarted", "ActivityFailed"]


# -- workflows ----------------------------------------------------------------------------------------------------


async def test_a_waiting_instance_is_woken_and_cancelled_at_its_deadline(
    fake_time_app: EddaApp, clock: FakeClock
) -> None:
    app = fake_time_app
    undone: list[str] = []

    @compensation
    async def release_seat(ctx: WorkflowContext, seat: str) -> None:
        undone.append(seat)

    @activity
    @on_failure(release_seat)
    async def hold_seat(ctx: WorkflowContext, seat: str) -> str:
        return seat

    @workflow(execution_timeout_seconds=600)
    async def seat_hold(ctx: WorkflowContext, seat: str) -> str:
        await hold_seat(ctx, seat)
        await wait_event(ctx, "payment.completed", timeout_seconds=3600)
        return "paid"

    iid = await seat_hold.start(seat="12A")
    await wait_until(lambda: _status_is(app, iid, "waiting_for_event"))
    record = await app.get_instance(iid)
    assert record.wake_at == record.created_at + timedelta(seconds=600)  # the deadline comes before the wait's timeout
    assert record.wait["timeout_at"] == (record.created_at + timedelta(seconds=3600)).isoformat()

    clock.advance(599)
    app.worker.wake_recovery()
    await asyncio.sleep(0.2)
    assert (await app.get_instance(iid)).status == "waiting_for_event"  # not yet
    clock.advance(1)
    app.worker.wake_recovery()
    with pytest.raises(WorkflowCancelledException):
        await app.wait_for_result(iid, timeout=10)
    record = await app.get_instance(iid)
    assert record.status == "cancelled" and undone == ["12A"]
    assert record.error["reason"] == "execution_timeout" and record.error["execution_timeout_seconds"] == 600
    assert "execution timeout of 600 s exceeded" in record.error["message"]
    assert record.error["deadline"] == (record.created_at + timedelta(seconds=600)).isoformat()


async def test_an_earlier_wait_timeout_keeps_its_own_wake_up(fake_time_app: EddaApp, clock: FakeClock) -> None:
    app = fake_time_app

    @workflow(execution_timeout_seconds=600)
    async def short_sleeper(ctx: WorkflowContext) -> str:
        await sleep(ctx, 60)
        return "woke"

    iid = await short_sleeper.start()
    await wait_until(lambda: _status_is(app, iid, "waiting_for_timer"))
    record = await app.get_instance(iid)
    assert record.wake_at == record.created_at + timedelta(seconds=60)
    clock.advance(60)
    app.worker.wake_recovery()
    assert await app.wait_for_result(iid, timeout=10) == "woke"


async def test_the_deadline_interrupts_a_running_activity_and_compensates(app: EddaApp) -> None:
    undone: list[str] = []
    interrupted: list[str] = []

    @compensation
    async def refund(ctx: WorkflowContext, order: str) -> None:
        undone.append(order)

    @activity
    @on_failure(refund)
    async def charge(ctx: WorkflowContext, order: str) -> str:
        return order

    @activity
    async def ship_slowly(ctx: WorkflowContext, order: str) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            interrupted.append(order)
            raise

    @workflow(execution_timeout_seconds=0.3)
    async def slow_order(ctx: WorkflowContext, order: str) -> str:
        await charge(ctx, order)
        await ship_slowly(ctx, order)
        return "shipped"

    iid = await slow_order.start(order="O-7")
    with pytest.raises(WorkflowCancelledException):
        await app.wait_for_result(iid, timeout=10)
    record = await app.get_instance(iid)
    assert record.status == "cancelled" and "execution timeout of 0.3 s exceeded" in record.error["message"]
    assert interrupted == ["O-7"] and undone == ["O-7"]
    kinds = [kind for kind, _ in await events(app, iid)]
    assert "ActivityFailed" not in kinds and "ActivityAttemptFailed" not in kinds  # not the activity's failure
    assert kinds[-1] == "CompensationExecuted"


async def test_the_deadline_between_steps_cancels_at_the_next_step(fake_time_app: EddaApp, clock: FakeClock) -> None:
    app = fake_time_app
    seen: list[str] = []

    @activity
    async def takes_an_hour(ctx: WorkflowContext) -> None:
        clock.advance(3600)

    @activity
    async def afterwards(ctx: WorkflowContext) -> None:
        seen.append("ran")

    @workflow(execution_timeout_seconds=1800)
    async def overran(ctx: WorkflowContext) -> str:
        await takes_an_hour(ctx)
        try:
            await afterwards(ctx)
        except WorkflowCancelledException as exc:
            seen.append(str(exc))
            raise
        return "done"

    iid = await overran.start()
    with pytest.raises(WorkflowCancelledException):
        await app.wait_for_result(iid, timeout=10)
    assert len(seen) == 1 and "execution timeout of 1800 s exceeded" in seen[0]  # the workflow saw why


async def test_the_execution_deadline_survives_a_crash(storage: InMemoryStorage, clock: FakeClock) -> None:
    calls: list[str] = []

    @activity
    async def step_one(ctx: WorkflowContext) -> None:
        calls.append("step_one")

    @workflow(execution_timeout_seconds=120)
    async def crash_then_deadline(ctx: WorkflowContext) -> str:
        await step_one(ctx)
        await sleep(ctx, 3600)
        return "slept"

    first = EddaApp(storage=storage, clock=clock, worker_id="first", recovery_interval=0.05)
    await first.initialize()
    iid = await crash_then_deadline.start()
    await wait_until(lambda: _status_is(first, iid, "waiting_for_timer"))
    await simulate_crash(first)
    clock.advance(121)
    async with EddaApp(storage=storage, clock=clock, worker_id="second", recovery_interval=0.05) as second:
        with pytest.raises(WorkflowCancelledException):
            await second.wait_for_result(iid, timeout=10)
        record = await second.get_instance(iid)
    assert record.status == "cancelled" and record.error["reason"] == "execution_timeout"
    assert calls == ["step_one"]  # cancelled without replaying the body


async def _status_is(app: EddaApp, iid: str, status: str) -> bool:
    record = await app.get_instance(iid)
    return record is not None and record.status == status
