"""Channels (competing, broadcast, direct) and ctx.recur()."""

from __future__ import annotations

import asyncio
import gc
import time
from collections import Counter

import pytest

from edda import (
    ChannelMessage,
    ChannelModeConflictError,
    EddaApp,
    EventTimeoutError,
    WorkflowContext,
    activity,
    publish,
    receive,
    send_to,
    subscribe,
    unsubscribe,
    workflow,
)
from edda._context import RunState


async def settle(app: EddaApp, timeout: float = 5) -> None:
    """Wait until no instance of this app is running (all are waiting or finished)."""
    end = time.monotonic() + timeout
    while app.worker.tasks:
        assert time.monotonic() < end
        await asyncio.sleep(0.002)


async def test_competing_consumers_each_message_exactly_once(app: EddaApp) -> None:
    processed: Counter[int] = Counter()

    @activity
    async def handle(ctx: WorkflowContext, job: int) -> None:
        processed[job] += 1

    @workflow
    async def job_worker(ctx: WorkflowContext, worker_id: str) -> None:
        await subscribe(ctx, channel="jobs", mode="competing")
        job = await receive(ctx, channel="jobs")
        await handle(ctx, job.data["n"])
        await ctx.recur(worker_id)

    workers = [await job_worker.start(worker_id=f"w{i}") for i in range(3)]
    await settle(app)
    for n in range(60):
        await publish(app, "jobs", {"n": n})
    end = time.monotonic() + 10
    while sum(processed.values()) < 60 and time.monotonic() < end:
        await asyncio.sleep(0.01)
    await settle(app)
    assert processed == Counter({n: 1 for n in range(60)})
    for iid in workers:  # recurring keeps the subscription and a short current history
        record = await app.get_instance(iid)
        assert record.status == "waiting_for_message"
        assert len(await app.storage.get_history(iid)) <= 2


async def test_jobs_published_before_any_worker_wait_for_one(app: EddaApp) -> None:
    await publish(app, "backlog", {"n": 1})
    await publish(app, "backlog", {"n": 2})

    @workflow
    async def late_worker(ctx: WorkflowContext) -> list[int]:
        await subscribe(ctx, "backlog", mode="competing")
        first = await receive(ctx, "backlog")
        second = await receive(ctx, "backlog")
        return [first.data["n"], second.data["n"]]

    assert await app.wait_for_result(await late_worker.start(), timeout=5) == [1, 2]


async def test_broadcast_every_subscriber_gets_every_message_even_while_busy(app: EddaApp) -> None:
    gate = asyncio.Event()

    @activity
    async def slow(ctx: WorkflowContext) -> None:
        await gate.wait()

    @workflow
    async def listener(ctx: WorkflowContext, busy: bool) -> list[str]:
        await subscribe(ctx, "news", mode="broadcast")
        if busy:
            await slow(ctx)  # messages published meanwhile are kept for it
        got = []
        for _ in range(3):
            msg = await receive(ctx, "news")
            assert isinstance(msg, ChannelMessage) and msg.channel == "news"
            got.append(msg.data["headline"])
        return got

    ids = [await listener.start(busy=b) for b in (False, False, True)]
    await asyncio.sleep(0.05)
    for h in ("a", "b", "c"):
        await publish(app, "news", {"headline": h}, metadata={"by": "desk"})
    gate.set()
    assert [await app.wait_for_result(i, timeout=5) for i in ids] == [["a", "b", "c"]] * 3


async def test_publish_from_workflow_is_a_step_and_send_to_is_direct(app: EddaApp) -> None:
    @workflow
    async def approver(ctx: WorkflowContext, request_id: str) -> bool:
        await publish(ctx, "audit", {"reviewing": request_id})
        return await send_to(ctx, instance_id=request_id, channel="approval", data={"approved": True})

    @workflow
    async def requester(ctx: WorkflowContext) -> dict:
        msg = await receive(ctx, "approval")
        return msg.data

    other = await requester.start()
    target = await requester.start()
    await settle(app)
    approver_id = await approver.start(request_id=target)
    assert await app.wait_for_result(approver_id, timeout=5) is True
    assert await app.wait_for_result(target, timeout=5) == {"approved": True}
    await asyncio.sleep(0.05)
    assert (await app.get_instance(other)).status == "waiting_for_message"  # direct: only the target
    history = await app.storage.get_history(approver_id)
    assert [h.event_type for h in history] == ["MessagePublished", "MessagePublished"]


async def test_publish_inside_an_activity_commits_with_it(app: EddaApp) -> None:
    @activity
    async def produce(ctx: WorkflowContext, fail: bool) -> None:
        await publish(ctx, "produced", {"fail": fail})
        if fail:
            from edda import TerminalError

            raise TerminalError("rolled back")

    @workflow
    async def producer(ctx: WorkflowContext, fail: bool) -> None:
        await produce(ctx, fail)

    @workflow
    async def consumer(ctx: WorkflowContext) -> bool:
        await subscribe(ctx, "produced", mode="competing")
        return (await receive(ctx, "produced")).data["fail"]

    c = await consumer.start()
    await settle(app)
    with pytest.raises(Exception, match="rolled back"):
        await app.wait_for_result(await producer.start(fail=True), timeout=5)
    await app.wait_for_result(await producer.start(fail=False), timeout=5)
    assert await app.wait_for_result(c, timeout=5) is False  # the rolled-back message never existed


async def test_mode_conflict(app: EddaApp) -> None:
    @workflow
    async def competing_sub(ctx: WorkflowContext) -> None:
        await subscribe(ctx, "mixed", mode="competing")
        await receive(ctx, "mixed")

    @workflow
    async def broadcast_sub(ctx: WorkflowContext) -> str:
        try:
            await subscribe(ctx, "mixed", mode="broadcast")
        except ChannelModeConflictError as exc:
            return str(exc)
        return "no conflict"

    await competing_sub.start()
    await settle(app)
    message = await app.wait_for_result(await broadcast_sub.start(), timeout=5)
    assert "already used in 'competing' mode" in message


async def test_receive_timeout_and_unsubscribe(app: EddaApp) -> None:
    @workflow
    async def quiet(ctx: WorkflowContext) -> str:
        await subscribe(ctx, "silence")
        try:
            await receive(ctx, "silence", timeout_seconds=0.05)
        except EventTimeoutError as exc:
            assert isinstance(exc, TimeoutError)
            await unsubscribe(ctx, "silence")
            return "timed out"
        return "received"

    assert await app.wait_for_result(await quiet.start(), timeout=5) == "timed out"


async def test_bytes_messages_and_odd_channel_names(app: EddaApp) -> None:
    name = "orders/ü 'quoted' %_ ;--"

    @workflow
    async def binary(ctx: WorkflowContext) -> bytes:
        return (await receive(ctx, name)).data

    iid = await binary.start()
    await settle(app)
    await publish(app, name, b"\x00\x01\xff")
    assert await app.wait_for_result(iid, timeout=5) == b"\x00\x01\xff"


async def test_recur_a_thousand_times_keeps_history_and_memory_bounded(app: EddaApp) -> None:
    @activity
    async def tick(ctx: WorkflowContext, n: int) -> int:
        return n + 1

    @workflow
    async def counter(ctx: WorkflowContext, n: int = 0) -> int:
        nxt = await tick(ctx, n)
        if nxt >= 1000:
            return nxt
        await ctx.recur(n=nxt)
        raise AssertionError("unreachable")

    iid = await counter.start()
    assert await app.wait_for_result(iid, timeout=60) == 1000
    record = await app.get_instance(iid)
    assert record.iteration == 999 and record.input_data == {"n": 999}
    assert [h.activity_id for h in await app.storage.get_history(iid)] == ["tick:1"]
    archived = await app.storage.get_history(iid, iteration=0)  # kept, not deleted
    assert archived[0].event_data["result"] == 1
    gc.collect()
    assert [o for o in gc.get_objects() if isinstance(o, RunState)] == []


async def test_recur_preserves_subscriptions(app: EddaApp) -> None:
    @workflow
    async def handler(ctx: WorkflowContext, seen: int = 0) -> int:
        if seen == 0:
            await subscribe(ctx, "notifications", mode="broadcast")
        msg = await receive(ctx, "notifications")
        if msg.data["last"]:
            return seen + 1
        await ctx.recur(seen=seen + 1)
        return -1

    iid = await handler.start()
    await settle(app)
    for i in range(3):
        await publish(app, "notifications", {"last": i == 2})
        await asyncio.sleep(0.02)
    assert await app.wait_for_result(iid, timeout=5) == 3
