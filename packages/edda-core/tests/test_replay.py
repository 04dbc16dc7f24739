"""Deterministic replay: crash and resume from the same storage; recorded outcomes; divergence detection."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import pytest

from edda import (
    EddaApp,
    RetryExhaustedError,
    RetryPolicy,
    TerminalError,
    WorkflowContext,
    WorkflowFailedError,
    activity,
    workflow,
)
from edda.storage.memory import InMemoryStorage
from edda.testing import simulate_crash


class PaymentDeclined(TerminalError):
    pass


class FlakyNetwork(ConnectionError):
    pass


async def new_app(storage: InMemoryStorage) -> EddaApp:
    app = EddaApp(service_name="replay", storage=storage, recovery_interval=0.02)
    await app.initialize()
    return app


@pytest.fixture
async def apps(storage: InMemoryStorage) -> AsyncIterator[list[EddaApp]]:
    created: list[EddaApp] = []
    yield created
    for a in created:
        await a.shutdown()


async def wait_until(predicate, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        if loop.time() > end:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)


async def test_crash_mid_workflow_resumes_without_rerunning_completed_activities(
    storage: InMemoryStorage, apps: list[EddaApp]
) -> None:
    executed: Counter[str] = Counter()
    gate = asyncio.Event()
    printed: list[str] = []

    @activity
    async def create_user(ctx: WorkflowContext, user_id: str) -> dict:
        executed["create_user"] += 1
        return {"email": f"{user_id}@example.com"}

    @activity
    async def send_email(ctx: WorkflowContext, email: str) -> str:
        executed["send_email"] += 1
        await gate.wait()  # the first process dies while this runs
        return f"sent to {email}"

    @workflow
    async def signup(ctx: WorkflowContext, user_id: str) -> str:
        printed.append(f"replaying={ctx.is_replaying}")
        user = await create_user(ctx, user_id)
        return await send_email(ctx, user["email"])

    first = await new_app(storage)
    iid = await signup.start(user_id="u1")
    await wait_until(lambda: executed["send_email"] == 1)
    await simulate_crash(first)
    assert (await storage.get_instance(iid)).status == "running"
    assert [h.activity_id for h in await storage.get_history(iid)] == ["create_user:1"]

    gate.set()
    second = await new_app(storage)  # same storage, like a restarted process on the same database
    apps.append(second)
    assert await second.wait_for_result(iid, timeout=5) == "sent to u1@example.com"
    assert executed == Counter({"create_user": 1, "send_email": 2})  # the in-flight one re-ran, the done one not
    assert printed == ["replaying=False", "replaying=True"]


async def test_recorded_failures_replay_as_the_same_exception_type(
    storage: InMemoryStorage, apps: list[EddaApp]
) -> None:
    executed: Counter[str] = Counter()
    seen: list[str] = []
    gate = asyncio.Event()

    @activity
    async def charge(ctx: WorkflowContext) -> None:
        executed["charge"] += 1
        raise PaymentDeclined("card declined")

    @activity(retry_policy=RetryPolicy(max_attempts=2, initial_interval=0.001))
    async def call_api(ctx: WorkflowContext) -> None:
        executed["call_api"] += 1
        raise FlakyNetwork("connection reset")

    @activity
    async def park(ctx: WorkflowContext) -> str:
        executed["park"] += 1
        await gate.wait()
        return "parked"

    @workflow
    async def catches(ctx: WorkflowContext) -> list[str]:
        try:
            await charge(ctx)
        except PaymentDeclined as exc:
            seen.append(f"{type(exc).__name__}:{exc}")
        try:
            await call_api(ctx)
        except RetryExhaustedError as exc:
            seen.append(f"{type(exc).__name__}:{type(exc.__cause__).__name__}:{exc.total_attempts}")
        await park(ctx)
        return seen

    first = await new_app(storage)
    iid = await catches.start()
    await wait_until(lambda: executed["park"] == 1)
    await simulate_crash(first)
    gate.set()
    second = await new_app(storage)
    apps.append(second)
    result = await second.wait_for_result(iid, timeout=5)
    expected = ["PaymentDeclined:card declined", "RetryExhaustedError:FlakyNetwork:2"]
    assert result == expected + expected  # the list is built twice: once per run, identical each time
    assert executed["charge"] == 1 and executed["call_api"] == 2


async def test_changed_code_is_reported_with_the_diverging_step(storage: InMemoryStorage, apps: list[EddaApp]) -> None:
    gate = asyncio.Event()

    @activity
    async def reserve(ctx: WorkflowContext) -> int:
        return 1

    @activity
    async def charge(ctx: WorkflowContext) -> int:
        await gate.wait()
        return 2

    @workflow
    async def evolving(ctx: WorkflowContext) -> int:
        await reserve(ctx)
        return await charge(ctx)

    first = await new_app(storage)
    iid = await evolving.start()
    await wait_until(lambda: len(storage._history) == 1)
    await simulate_crash(first)

    @activity
    async def ship(ctx: WorkflowContext) -> int:
        return 3

    @workflow  # the same name, deployed with different code: now it ships before reserving
    async def evolving(ctx: WorkflowContext) -> int:
        await ship(ctx)
        return await reserve(ctx)

    second = await new_app(storage)
    apps.append(second)
    with pytest.raises(WorkflowFailedError) as info:
        await second.wait_for_result(iid, timeout=5)
    assert info.value.error_type == "NonDeterminismError"
    message = info.value.error_message
    assert "at step 1" in message
    assert "history recorded activity 'reserve' (id 'reserve:1')" in message
    assert "the code now calls activity 'ship' (id 'ship:1')" in message
    assert [h.activity_id for h in await storage.get_history(iid)] == ["reserve:1"]  # nothing new executed


async def test_same_id_different_activity_is_divergence(storage: InMemoryStorage, apps: list[EddaApp]) -> None:
    gate = asyncio.Event()

    @activity
    async def a(ctx: WorkflowContext) -> int:
        return 1

    @activity
    async def blocker(ctx: WorkflowContext) -> None:
        await gate.wait()

    @workflow
    async def manual(ctx: WorkflowContext) -> None:
        await a(ctx, activity_id="step-1")
        await blocker(ctx)

    first = await new_app(storage)
    iid = await manual.start()
    await wait_until(lambda: len(storage._history) == 1)
    await simulate_crash(first)

    @activity
    async def b(ctx: WorkflowContext) -> int:
        return 2

    @workflow
    async def manual(ctx: WorkflowContext) -> None:
        await b(ctx, activity_id="step-1")

    second = await new_app(storage)
    apps.append(second)
    with pytest.raises(WorkflowFailedError, match=r"recorded activity 'a' \(id 'step-1'\), but the code now calls 'b'"):
        await second.wait_for_result(iid, timeout=5)


async def test_code_that_stops_calling_a_recorded_step_is_divergence(
    storage: InMemoryStorage, apps: list[EddaApp]
) -> None:
    gate = asyncio.Event()

    @activity
    async def a(ctx: WorkflowContext) -> int:
        return 1

    @activity
    async def blocker(ctx: WorkflowContext) -> None:
        await gate.wait()

    @workflow
    async def shrinking(ctx: WorkflowContext) -> str:
        await a(ctx)
        await blocker(ctx)
        return "old"

    first = await new_app(storage)
    iid = await shrinking.start()
    await wait_until(lambda: len(storage._history) == 1)
    await simulate_crash(first)

    @workflow
    async def shrinking(ctx: WorkflowContext) -> str:
        return "new"

    second = await new_app(storage)
    apps.append(second)
    with pytest.raises(WorkflowFailedError, match="finished without calling it"):
        await second.wait_for_result(iid, timeout=5)


async def test_gather_replays_after_partial_completion(storage: InMemoryStorage, apps: list[EddaApp]) -> None:
    executed: Counter[int] = Counter()
    gate = asyncio.Event()

    @activity
    async def part(ctx: WorkflowContext, n: int) -> int:
        executed[n] += 1
        if n == 0:
            await gate.wait()  # the first one is still running when the process dies
        return n

    @workflow
    async def parallel(ctx: WorkflowContext) -> list[int]:
        return list(await asyncio.gather(part(ctx, 0), part(ctx, 1), part(ctx, 2)))

    first = await new_app(storage)
    iid = await parallel.start()
    await wait_until(lambda: len(storage._history) == 2)  # parts 1 and 2 committed (not held back)
    await simulate_crash(first)
    gate.set()
    second = await new_app(storage)
    apps.append(second)
    assert await second.wait_for_result(iid, timeout=5) == [0, 1, 2]
    assert executed == Counter({0: 2, 1: 1, 2: 1})


async def test_unknown_workflow_is_left_for_a_worker_that_knows_it(
    storage: InMemoryStorage, apps: list[EddaApp]
) -> None:
    @workflow
    async def transient(ctx: WorkflowContext) -> str:
        await asyncio.Event().wait()
        return "never"

    first = await new_app(storage)
    iid = await transient.start()
    await asyncio.sleep(0.01)
    await simulate_crash(first)
    from edda import _workflow

    del _workflow._workflows["transient"]
    second = await new_app(storage)
    apps.append(second)
    await asyncio.sleep(0.1)
    record = await storage.get_instance(iid)
    assert record.status == "running"  # not failed, not lost: waiting for code that defines it
