"""Retry policies: defaults, backoff, terminal errors, exhaustion metadata, resolution order, crash mid-retry."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from edda import (
    DEFAULT_RETRY_POLICY,
    EddaApp,
    RetryExhaustedError,
    RetryPolicy,
    TerminalError,
    WorkflowContext,
    WorkflowFailedError,
    activity,
    workflow,
)
from edda.exceptions import ConfigurationError
from edda.storage.memory import InMemoryStorage
from edda.testing import FakeClock, simulate_crash


def test_default_policy_matches_the_documented_values() -> None:
    p = RetryPolicy()
    assert (p.max_attempts, p.initial_interval, p.backoff_coefficient, p.max_interval, p.max_duration) == (
        5,
        1.0,
        2.0,
        60.0,
        300.0,
    )
    assert DEFAULT_RETRY_POLICY == p
    assert [p.calculate_delay(n) for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]


def test_is_retryable_priority() -> None:
    p = RetryPolicy(retryable_error_types=(ConnectionError, ValueError), non_retryable_error_types=(KeyError,))
    assert p.is_retryable(ConnectionError()) is True
    assert p.is_retryable(TerminalError("no")) is False
    assert p.is_retryable(KeyError("k")) is False
    assert p.is_retryable(RuntimeError("x")) is False  # not listed: not retried
    assert RetryPolicy(non_retryable_error_types=(ValueError,)).is_retryable(ValueError()) is False


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"max_attempts": 0}, "max_attempts must be a positive int"),
        ({"initial_interval": -1}, "initial_interval must be a number >= 0"),
        ({"backoff_coefficient": 0.5}, "backoff_coefficient must be >= 1.0"),
        ({"max_duration": -3}, "max_duration must be >= 0"),
    ],
)
def test_invalid_policies_are_rejected(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        RetryPolicy(**kwargs)


async def test_default_retry_backoff_and_exhaustion(fake_time_app: EddaApp, clock: FakeClock) -> None:
    attempts = 0

    @activity
    async def always_fails(ctx: WorkflowContext) -> None:
        nonlocal attempts
        attempts += 1
        raise ConnectionError(f"down #{attempts}")

    @workflow
    async def exhaust(ctx: WorkflowContext) -> dict:
        try:
            await always_fails(ctx)
        except RetryExhaustedError as exc:
            return {
                "attempts": exc.total_attempts,
                "cause": repr(exc.__cause__),
                "message": str(exc),
                "errors": [e["message"] for e in exc.errors],
                "duration_ms": exc.total_duration_ms,
            }
        return {}

    iid = await exhaust.start()
    result = await fake_time_app.wait_for_result(iid, timeout=5)
    assert attempts == 5
    assert clock.sleeps == [1.0, 2.0, 4.0, 8.0]
    assert result["attempts"] == 5 and result["cause"] == "ConnectionError('down #5')"
    assert result["message"] == "Activity 'always_fails' failed after 5 attempts: ConnectionError: down #5"
    assert result["errors"] == [f"down #{n}" for n in range(1, 6)]
    assert result["duration_ms"] == 15000
    history = await fake_time_app.storage.get_history(iid)
    assert [h.event_type for h in history] == ["ActivityAttemptFailed"] * 4 + ["ActivityFailed"]
    meta = history[-1].event_data["retry_metadata"]
    assert meta["total_attempts"] == 5 and meta["exhausted"] is True and meta["total_duration_ms"] == 15000
    assert meta["last_error"] == {"attempt": 5, "error_type": "ConnectionError", "message": "down #5"}
    assert len(meta["errors"]) == 5


async def test_success_after_retries_records_metadata(fake_time_app: EddaApp, clock: FakeClock) -> None:
    attempts = 0

    @activity(retry_policy=RetryPolicy(max_attempts=4, initial_interval=0.5, backoff_coefficient=3))
    async def flaky(ctx: WorkflowContext) -> str:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise TimeoutError("slow")
        return "ok"

    @workflow
    async def recovers(ctx: WorkflowContext) -> str:
        return await flaky(ctx)

    iid = await recovers.start()
    assert await fake_time_app.wait_for_result(iid, timeout=5) == "ok"
    assert clock.sleeps == [0.5, 1.5]
    completed = (await fake_time_app.storage.get_history(iid))[-1]
    assert completed.event_type == "ActivityCompleted"
    meta = completed.event_data["retry_metadata"]
    assert meta["total_attempts"] == 3 and meta["exhausted"] is False and meta["total_duration_ms"] == 2000
    assert meta["last_error"]["error_type"] == "TimeoutError"


async def test_terminal_error_is_never_retried(fake_time_app: EddaApp, clock: FakeClock) -> None:
    attempts = 0

    @activity(retry_policy=RetryPolicy(max_attempts=10))
    async def validate(ctx: WorkflowContext, user_id: str) -> None:
        nonlocal attempts
        attempts += 1
        raise TerminalError(f"User {user_id} not found")

    @workflow
    async def validation(ctx: WorkflowContext) -> None:
        await validate(ctx, "u-9")

    iid = await validation.start()
    with pytest.raises(WorkflowFailedError) as info:
        await fake_time_app.wait_for_result(iid, timeout=5)
    assert attempts == 1 and clock.sleeps == []
    assert info.value.error_type == "TerminalError" and info.value.error_message == "User u-9 not found"


async def test_max_duration_stops_retrying(fake_time_app: EddaApp, clock: FakeClock) -> None:
    attempts = 0

    @activity(retry_policy=RetryPolicy(max_attempts=None, initial_interval=10, backoff_coefficient=1, max_duration=25))
    async def slowly_failing(ctx: WorkflowContext) -> None:
        nonlocal attempts
        attempts += 1
        raise OSError("nope")

    @workflow
    async def bounded(ctx: WorkflowContext) -> None:
        await slowly_failing(ctx)

    iid = await bounded.start()
    with pytest.raises(WorkflowFailedError, match="RetryExhaustedError"):
        await fake_time_app.wait_for_result(iid, timeout=5)
    assert clock.sleeps == [10, 10] and attempts == 3  # a third wait would pass 25 s


async def test_policy_resolution_activity_then_app_then_default(storage: InMemoryStorage) -> None:
    clock = FakeClock()
    app = EddaApp(storage=storage, clock=clock, default_retry_policy=RetryPolicy(max_attempts=2, initial_interval=7))
    await app.initialize()
    counts: Counter[str] = Counter()

    @activity
    async def uses_app_policy(ctx: WorkflowContext) -> None:
        counts["app"] += 1
        raise ValueError("x")

    @activity(retry_policy=RetryPolicy(max_attempts=3, initial_interval=1, backoff_coefficient=1))
    async def uses_own_policy(ctx: WorkflowContext) -> None:
        counts["own"] += 1
        raise ValueError("y")

    @workflow
    async def both(ctx: WorkflowContext) -> None:
        for act in (uses_app_policy, uses_own_policy):
            try:
                await act(ctx)
            except RetryExhaustedError:
                pass

    try:
        await app.wait_for_result(await both.start(), timeout=5)
    finally:
        await app.shutdown()
    assert counts == Counter({"app": 2, "own": 3})
    assert clock.sleeps == [7, 1, 1]


async def test_attempt_count_survives_a_crash_mid_retry(storage: InMemoryStorage) -> None:
    attempts = 0
    first_crashed = asyncio.Event()

    class CrashClock(FakeClock):
        crash_on_sleep = True

        async def sleep(self, seconds: float) -> None:
            await super().sleep(seconds)
            if self.crash_on_sleep and len(self.sleeps) == 2:
                first_crashed.set()
                await asyncio.Event().wait()  # the process dies during the second backoff

    @activity(retry_policy=RetryPolicy(max_attempts=4, initial_interval=1))
    async def unstable(ctx: WorkflowContext) -> None:
        nonlocal attempts
        attempts += 1
        raise ConnectionError(f"attempt {attempts}")

    @workflow
    async def retried(ctx: WorkflowContext) -> str:
        try:
            await unstable(ctx)
        except RetryExhaustedError as exc:
            return f"gave up after {exc.total_attempts}"
        return "ok"

    clock = CrashClock()
    first = EddaApp(storage=storage, clock=clock)
    await first.initialize()
    iid = await retried.start()
    await asyncio.wait_for(first_crashed.wait(), 5)
    await simulate_crash(first)
    assert attempts == 2

    clock.crash_on_sleep = False
    second = EddaApp(storage=storage, clock=clock, recovery_interval=0.02)
    await second.initialize()
    try:
        assert await second.wait_for_result(iid, timeout=5) == "gave up after 4"
    finally:
        await second.shutdown()
    assert attempts == 4  # 2 before the crash + 2 after: the policy's 4, not 2 + 4
    history = await storage.get_history(iid)
    assert [h.event_data.get("attempt") for h in history if h.event_type == "ActivityAttemptFailed"] == [1, 2, 3]
