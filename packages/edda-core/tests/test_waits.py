"""Durable timers and events: the worker is released while waiting, and any worker resumes the instance."""

from __future__ import annotations

import asyncio
import gc
import inspect
import time
from datetime import UTC, datetime, timedelta

import pytest

from edda import (
    EddaApp,
    EventTimeoutError,
    ReceivedEvent,
    WorkflowCancelledException,
    WorkflowContext,
    activity,
    compensation,
    on_failure,
    sleep,
    sleep_until,
    wait_event,
    wait_timer,
    wait_until,
    workflow,
)
from edda._context import RunState
from edda.storage.memory import InMemoryStorage
from edda.testing import simulate_crash


async def wait_for_status(app: EddaApp, iid: str, status: str, timeout: float = 5) -> None:
    end = time.monotonic() + timeout
    while (await app.get_instance(iid)).status != status:
        assert time.monotonic() < end, f"{iid} never reached {status}"
        await asyncio.sleep(0.002)


async def test_sleep_releases_the_worker_and_fires_on_time(app: EddaApp) -> None:
    fired_at: list[float] = []

    @workflow
    async def napper(ctx: WorkflowContext, seconds: float) -> str:
        await sleep(ctx, seconds=seconds)
        fired_at.append(time.monotonic())
        return "awake"

    start = time.monotonic()
    iid = await napper.start(seconds=0.3)
    await wait_for_status(app, iid, "waiting_for_timer")
    record = await app.get_instance(iid)
    assert record.owner_id is None and record.wake_at is not None
    assert iid not in app.worker.tasks and iid not in app.worker.runs  # nothing of it runs while it waits
    assert await app.wait_for_result(iid, timeout=5) == "awake"
    lateness = fired_at[0] - start - 0.3
    assert 0 <= lateness < 0.1, f"timer fired {lateness * 1000:.0f} ms late"
    assert [h.event_type for h in await app.storage.get_history(iid)] == ["TimerFired"]


async def test_sleep_until_and_aliases(app: EddaApp) -> None:
    @workflow
    async def scheduled(ctx: WorkflowContext) -> str:
        await sleep_until(ctx, datetime.now(UTC) - timedelta(seconds=1))  # past: returns at once
        await wait_until(ctx, datetime.now(UTC) + timedelta(milliseconds=50))
        await wait_timer(ctx, duration_seconds=0.05)
        return "done"

    assert await app.wait_for_result(await scheduled.start(), timeout=5) == "done"


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda ctx: sleep_until(ctx, datetime(2030, 1, 1)), "timezone-aware"),
        (lambda ctx: sleep(ctx, -1), "between 0 and"),
        (lambda ctx: sleep(ctx, 10**12), "between 0 and"),
        (lambda ctx: sleep(ctx, float("nan")), "must be a number"),
        (lambda ctx: wait_event(ctx, "", timeout_seconds=1), "event_type must be a non-empty string"),
        (lambda ctx: wait_event(ctx, "t", timeout_seconds=-5), "between 0 and"),
    ],
)
async def test_bad_wait_arguments_are_clear_errors(app: EddaApp, call, message: str) -> None:  # type: ignore
    @workflow
    async def bad_wait(ctx: WorkflowContext) -> str:
        try:
            await call(ctx)
        except ValueError as exc:
            return str(exc)
        return "accepted"

    assert message in await app.wait_for_result(await bad_wait.start(), timeout=5)


async def test_wait_event_receives_cloudevent_data_and_metadata(app: EddaApp) -> None:
    @workflow
    async def payment(ctx: WorkflowContext, order_id: str) -> dict:
        event = await wait_event(ctx, "payment.completed")
        assert isinstance(event, ReceivedEvent)
        return {
            "amount": event.data["amount"],
            "source": event.metadata.source,
            "type": event.metadata.type,
            "id": event.id,
            "ext": event.extensions,
        }

    iid = await payment.start(order_id="O-1")
    await wait_for_status(app, iid, "waiting_for_event")
    await app.handle_cloudevent(
        {
            "specversion": "1.0",
            "type": "payment.completed",
            "source": "payments",
            "id": "evt-1",
            "traceparent": "00-abc",
            "data": {"amount": 12.5},
        }
    )
    assert await app.wait_for_result(iid, timeout=5) == {
        "amount": 12.5,
        "source": "payments",
        "type": "payment.completed",
        "id": "evt-1",
        "ext": {"traceparent": "00-abc"},
    }


async def test_event_reaches_every_waiting_workflow_and_only_waiting_ones(app: EddaApp) -> None:
    @workflow
    async def listener(ctx: WorkflowContext, n: int) -> int:
        event = await wait_event(ctx, "broadcast.test")
        return event.data["v"] + n

    early = [await listener.start(n=i) for i in range(3)]
    for iid in early:
        await wait_for_status(app, iid, "waiting_for_event")
    await app.handle_cloudevent({"type": "broadcast.test", "source": "t", "id": "1", "data": {"v": 100}})
    assert [await app.wait_for_result(i, timeout=5) for i in early] == [100, 101, 102]
    late = await listener.start(n=9)  # started after the event: it waits for the next one
    await wait_for_status(app, late, "waiting_for_event")
    await app.handle_cloudevent({"type": "broadcast.test", "source": "t", "id": "2", "data": {"v": 1}})
    assert await app.wait_for_result(late, timeout=5) == 10


async def test_eddainstanceid_targets_one_instance(app: EddaApp) -> None:
    @workflow
    async def approval(ctx: WorkflowContext) -> bool:
        return (await wait_event(ctx, "approval.decided")).data["approved"]

    a, b = await approval.start(), await approval.start()
    for iid in (a, b):
        await wait_for_status(app, iid, "waiting_for_event")
    await app.handle_cloudevent(
        {"type": "approval.decided", "source": "ui", "id": "x", "eddainstanceid": b, "data": {"approved": True}}
    )
    assert await app.wait_for_result(b, timeout=5) is True
    await asyncio.sleep(0.05)
    assert (await app.get_instance(a)).status == "waiting_for_event"


async def test_event_timeout_is_catchable_and_replays_identically(storage: InMemoryStorage) -> None:
    gate = asyncio.Event()
    seen: list[str] = []

    @activity
    async def block(ctx: WorkflowContext) -> None:
        await gate.wait()

    @workflow
    async def impatient(ctx: WorkflowContext) -> str:
        try:
            await wait_event(ctx, "never.comes", timeout_seconds=0.1)
            outcome = "event"
        except EventTimeoutError as exc:
            assert not isinstance(exc, TimeoutError)
            outcome = "timeout"
        seen.append(outcome)
        await block(ctx)
        return outcome

    first = EddaApp(storage=storage, recovery_interval=0.05)
    await first.initialize()
    iid = await impatient.start()
    while not seen:
        await asyncio.sleep(0.01)
    await simulate_crash(first)
    # the event arrives after the timeout fired: the replay must still take the timeout branch
    second = EddaApp(storage=storage, recovery_interval=0.05)
    await second.initialize()
    try:
        await second.handle_cloudevent({"type": "never.comes", "source": "t", "id": "late", "data": {}})
        gate.set()
        assert await second.wait_for_result(iid, timeout=5) == "timeout"
        assert seen == ["timeout", "timeout"]
    finally:
        await second.shutdown()


async def test_waiting_instance_resumes_on_another_worker_after_a_crash(storage: InMemoryStorage) -> None:
    @workflow
    async def survivor(ctx: WorkflowContext) -> str:
        event = await wait_event(ctx, "go")
        await sleep(ctx, 0.05)
        return event.data["msg"]

    first = EddaApp(storage=storage)
    await first.initialize()
    iid = await survivor.start()
    await wait_for_status(first, iid, "waiting_for_event")
    await simulate_crash(first)
    second = EddaApp(storage=storage, recovery_interval=0.05)
    await second.initialize()
    try:
        await second.handle_cloudevent({"type": "go", "source": "t", "id": "1", "data": {"msg": "hello"}})
        assert await second.wait_for_result(iid, timeout=5) == "hello"
    finally:
        await second.shutdown()


async def test_cancel_a_waiting_workflow_compensates_at_once(app: EddaApp) -> None:
    undone: list[str] = []

    @compensation
    async def undo(ctx: WorkflowContext, item: str) -> None:
        undone.append(item)

    @activity
    @on_failure(undo)
    async def reserve(ctx: WorkflowContext, item: str) -> None:
        return None

    @workflow
    async def reserve_then_wait(ctx: WorkflowContext) -> None:
        await reserve(ctx, "seat-1")
        await wait_event(ctx, "confirmation")

    iid = await reserve_then_wait.start()
    await wait_for_status(app, iid, "waiting_for_event")
    await app.cancel_workflow(iid)
    assert (await app.get_instance(iid)).status == "cancelled"
    assert undone == ["seat-1"]
    with pytest.raises(WorkflowCancelledException):
        await app.wait_for_result(iid, timeout=1)


async def test_event_handler_workflows_and_on_event_handlers(app: EddaApp) -> None:
    handled: list[str] = []

    @workflow(event_handler=True)
    async def order_created(ctx: WorkflowContext, order_id: str) -> str:
        return f"processed {order_id}"

    @app.on_event("order.created")
    async def log_it(event: dict) -> None:
        handled.append(event["id"])

    await app.handle_cloudevent(
        {"type": "order_created", "source": "shop", "id": "e1", "data": {"order_id": "O-9"}}, wait=True
    )
    await app.handle_cloudevent({"type": "order.created", "source": "shop", "id": "e2", "data": {}}, wait=True)
    found = (await app.find_instances(workflow_name="order_created"))["instances"]
    assert len(found) == 1
    assert await app.wait_for_result(found[0].instance_id, timeout=5) == "processed O-9"
    assert handled == ["e2"]


async def test_invalid_cloudevents_are_rejected(app: EddaApp) -> None:
    with pytest.raises(ValueError, match="missing required attribute"):
        await app.handle_cloudevent({"type": "x", "data": {}})


async def test_ten_thousand_waiting_workflows_leave_nothing_in_memory(app: EddaApp) -> None:
    @workflow
    async def parked(ctx: WorkflowContext, n: int) -> int:
        event = await wait_event(ctx, "wake.all")
        return n + event.data["add"]

    count = 10_000
    ids = [await parked.start(n=i) for i in range(count)]
    for _ in range(500):
        if not app.worker.tasks:
            break
        await asyncio.sleep(0.01)
    gc.collect()
    code = parked.func.__code__
    frames = [o for o in gc.get_objects() if inspect.iscoroutine(o) and o.cr_code is code]
    runs = [o for o in gc.get_objects() if isinstance(o, RunState)]
    alive = [t for t in asyncio.all_tasks() if t.get_name().startswith("edda-run")]
    assert (len(frames), len(runs), len(alive), len(app.worker.runs)) == (0, 0, 0, 0)
    waiting = (await app.find_instances(status="waiting_for_event", limit=1000))["instances"]
    assert len(waiting) == 1000  # one page of the 10,000

    await app.handle_cloudevent({"type": "wake.all", "source": "t", "id": "go", "data": {"add": 1}})
    results = [await app.wait_for_result(i, timeout=60) for i in ids[:50]] + [
        await app.wait_for_result(ids[-1], timeout=60)
    ]
    assert results[:3] == [1, 2, 3] and results[-1] == count
    for _ in range(600):
        if not (await app.find_instances(status="waiting_for_event", limit=1))["instances"]:
            break
        await asyncio.sleep(0.05)
    assert (await app.find_instances(status="waiting_for_event", limit=1))["instances"] == []
