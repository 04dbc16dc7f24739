"""Saga compensation and cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from edda import (
    EddaApp,
    TerminalError,
    WorkflowCancelledException,
    WorkflowContext,
    WorkflowFailedError,
    WorkflowNotFoundError,
    WorkflowStateError,
    activity,
    compensation,
    on_failure,
    register_compensation,
    workflow,
)
from edda.storage.memory import InMemoryStorage
from edda.testing import simulate_crash

log: list[str] = []


@compensation
async def cancel_reservation(ctx: WorkflowContext, item_id: str) -> dict:
    log.append(f"cancel {item_id}")
    return {"cancelled": True}


@activity
@on_failure(cancel_reservation)
async def reserve_inventory(ctx: WorkflowContext, item_id: str) -> dict:
    log.append(f"reserve {item_id}")
    return {"reserved": True}


@activity
async def release_by_reservation(ctx: WorkflowContext, reservation_id: str) -> None:
    log.append(f"release {reservation_id}")


@activity
@on_failure(release_by_reservation)
async def make_reservation(ctx: WorkflowContext, order_id: str) -> dict:
    log.append(f"make {order_id}")
    return {"reservation_id": f"R-{order_id}", "other": 1}


@activity
async def charge_payment(ctx: WorkflowContext) -> None:
    log.append("charge")
    raise TerminalError("card declined")


@pytest.fixture(autouse=True)
def clear_log() -> None:
    log.clear()


@pytest.fixture
async def apps() -> AsyncIterator[list[EddaApp]]:
    created: list[EddaApp] = []
    yield created
    for a in created:
        await a.shutdown()


async def test_compensations_run_in_reverse_order_for_completed_activities(app: EddaApp) -> None:
    @workflow
    async def order_workflow(ctx: WorkflowContext, item1: str, item2: str) -> None:
        await reserve_inventory(ctx, item1)
        await make_reservation(ctx, "O-1")
        await reserve_inventory(ctx, item2)
        await charge_payment(ctx)

    iid = await order_workflow.start(item1="A", item2="B")
    with pytest.raises(WorkflowFailedError) as info:
        await app.wait_for_result(iid, timeout=5)
    assert info.value.error_type == "TerminalError" and info.value.error_message == "card declined"
    # args shape (cancel_reservation(item_id)) and result-keys shape (release(reservation_id)) both work
    assert log == ["reserve A", "make O-1", "reserve B", "charge", "cancel B", "release R-O-1", "cancel A"]
    record = await app.get_instance(iid)
    assert record.status == "failed" and record.error["error_type"] == "TerminalError"
    types = [h.event_type for h in await app.storage.get_history(iid)]
    assert types.count("CompensationExecuted") == 3


async def test_only_completed_activities_are_compensated(app: EddaApp) -> None:
    @activity
    @on_failure(cancel_reservation)
    async def failing_reserve(ctx: WorkflowContext, item_id: str) -> dict:
        raise TerminalError("no stock")

    @workflow
    async def partial(ctx: WorkflowContext) -> None:
        await reserve_inventory(ctx, "A")
        await failing_reserve(ctx, "B")

    iid = await partial.start()
    with pytest.raises(WorkflowFailedError):
        await app.wait_for_result(iid, timeout=5)
    assert [x for x in log if x.startswith("cancel")] == ["cancel A"]


async def test_successful_workflow_runs_no_compensation(app: EddaApp) -> None:
    @workflow
    async def fine(ctx: WorkflowContext) -> str:
        await reserve_inventory(ctx, "A")
        return "done"

    assert await app.wait_for_result(await fine.start(), timeout=5) == "done"
    assert log == ["reserve A"]


@compensation
async def refund(ctx: WorkflowContext, amount: float, *, reason: str) -> None:
    log.append(f"refund {amount} ({reason})")


async def test_register_compensation_with_explicit_arguments(app: EddaApp) -> None:
    @activity
    async def pay(ctx: WorkflowContext, amount: float) -> dict:
        log.append(f"pay {amount}")
        return {"ok": True}

    @workflow
    async def explicit(ctx: WorkflowContext) -> None:
        await pay(ctx, 9.5)
        await register_compensation(ctx, refund, 9.5, activity_id="pay:1", reason="order failed")
        raise RuntimeError("later step failed")

    iid = await explicit.start()
    with pytest.raises(WorkflowFailedError, match="later step failed"):
        await app.wait_for_result(iid, timeout=5)
    assert log == ["pay 9.5", "refund 9.5 (order failed)"]


async def test_crash_during_compensation_resumes_without_repeating(
    storage: InMemoryStorage, apps: list[EddaApp]
) -> None:
    hang = asyncio.Event()

    @compensation
    async def undo_first(ctx: WorkflowContext, n: int) -> None:
        log.append(f"undo {n}")
        if n == 1 and not hang.is_set():
            hang.set()
            await asyncio.Event().wait()  # the process dies while undoing step 1

    @activity
    @on_failure(undo_first)
    async def do(ctx: WorkflowContext, n: int) -> int:
        log.append(f"do {n}")
        return n

    @workflow
    async def three_then_fail(ctx: WorkflowContext) -> None:
        for n in (1, 2, 3):
            await do(ctx, n)
        raise ValueError("boom")

    first = EddaApp(storage=storage)
    await first.initialize()
    iid = await three_then_fail.start()
    await asyncio.wait_for(hang.wait(), 5)
    await simulate_crash(first)
    assert (await storage.get_instance(iid)).status == "compensating"
    assert log == ["do 1", "do 2", "do 3", "undo 3", "undo 2", "undo 1"]

    second = EddaApp(storage=storage, recovery_interval=0.02)
    apps.append(second)
    await second.initialize()
    with pytest.raises(WorkflowFailedError, match="boom"):
        await second.wait_for_result(iid, timeout=5)
    # undo 3 and undo 2 had been recorded: not repeated; undo 1 was in flight: run again; no activity re-ran
    assert log == ["do 1", "do 2", "do 3", "undo 3", "undo 2", "undo 1", "undo 1"]


async def test_cancel_a_running_workflow_runs_compensations(app: EddaApp) -> None:
    gate = asyncio.Event()
    reached = asyncio.Event()

    @activity
    async def wait_here(ctx: WorkflowContext) -> None:
        reached.set()
        await gate.wait()

    @activity
    async def never(ctx: WorkflowContext) -> None:
        log.append("never")

    @workflow
    async def cancellable(ctx: WorkflowContext) -> None:
        await reserve_inventory(ctx, "A")
        await wait_here(ctx)
        await never(ctx)

    cancelled: list[str] = []

    class Hooks:
        async def on_workflow_cancelled(self, instance_id: str, workflow_name: str) -> None:
            cancelled.append(workflow_name)

    app.hooks = app.worker.hooks = Hooks()
    iid = await cancellable.start()
    await asyncio.wait_for(reached.wait(), 5)
    await app.cancel_workflow(iid)
    gate.set()
    with pytest.raises(WorkflowCancelledException):
        await app.wait_for_result(iid, timeout=5)
    assert log == ["reserve A", "cancel A"]
    assert (await app.get_instance(iid)).status == "cancelled"
    assert cancelled == ["cancellable"]


async def test_cancel_an_idle_instance_left_by_a_dead_worker(storage: InMemoryStorage, apps: list[EddaApp]) -> None:
    reached = asyncio.Event()

    @activity
    async def stuck(ctx: WorkflowContext) -> None:
        reached.set()
        await asyncio.Event().wait()

    @workflow
    async def abandoned(ctx: WorkflowContext) -> None:
        await reserve_inventory(ctx, "Z")
        await stuck(ctx)

    first = EddaApp(storage=storage)
    await first.initialize()
    iid = await abandoned.start()
    await asyncio.wait_for(reached.wait(), 5)
    await simulate_crash(first)

    second = EddaApp(storage=storage, recovery_interval=3600)  # no recovery pass: cancel must do it
    apps.append(second)
    await second.initialize()
    await second.cancel_workflow(iid)
    assert (await storage.get_instance(iid)).status == "cancelled"
    assert log == ["reserve Z", "cancel Z"]


async def test_cancel_errors(app: EddaApp) -> None:
    with pytest.raises(WorkflowNotFoundError):
        await app.cancel_workflow("missing")

    @workflow
    async def quick(ctx: WorkflowContext) -> int:
        return 1

    iid = await quick.start()
    await app.wait_for_result(iid, timeout=5)
    with pytest.raises(WorkflowStateError, match="already finished with status 'completed'") as info:
        await app.cancel_workflow(iid)
    assert info.value.status == "completed"
    assert (await app.get_instance(iid)).status == "completed"  # nothing changed


async def test_cancel_twice_is_rejected_the_second_time(app: EddaApp) -> None:
    gate = asyncio.Event()

    @activity
    async def block(ctx: WorkflowContext) -> None:
        await gate.wait()

    @workflow
    async def blocked(ctx: WorkflowContext) -> None:
        await block(ctx)
        await block(ctx)

    iid = await blocked.start()
    await asyncio.sleep(0.02)
    await app.cancel_workflow(iid)
    gate.set()
    with pytest.raises(WorkflowCancelledException):
        await app.wait_for_result(iid, timeout=5)
    with pytest.raises(WorkflowStateError, match="'cancelled'"):
        await app.cancel_workflow(iid)


async def test_uncallable_compensation_binding_is_reported(app: EddaApp) -> None:
    @compensation
    async def needs_unknown(ctx: WorkflowContext, first: str, second: str) -> None: ...

    @activity
    @on_failure(needs_unknown)
    async def act(ctx: WorkflowContext, item: str) -> str:
        return "not a dict"

    @workflow
    async def wf(ctx: WorkflowContext) -> None:
        await act(ctx, "x")

    iid = await wf.start()
    with pytest.raises(WorkflowFailedError, match="can be called neither with the activity's arguments"):
        await app.wait_for_result(iid, timeout=5)
