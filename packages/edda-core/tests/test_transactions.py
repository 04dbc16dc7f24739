"""Activity transactions on memory storage: outbox atomicity, post-commit callbacks, ctx helpers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from edda import (
    EddaApp,
    TerminalError,
    WorkflowContext,
    WorkflowFailedError,
    activity,
    send_event_transactional,
    workflow,
)
from edda.storage.memory import InMemoryStorage
from edda.storage.records import StepCommit, StepOutcome


async def test_outbox_event_commits_with_the_activity(app: EddaApp) -> None:
    @activity
    async def create_order(ctx: WorkflowContext, order_id: str) -> dict:
        assert ctx.in_transaction()
        event_id = await send_event_transactional(ctx, "order.created", "order-service", {"order_id": order_id})
        return {"event_id": event_id}

    @workflow
    async def orders(ctx: WorkflowContext, order_id: str) -> dict:
        assert not ctx.in_transaction()
        return await create_order(ctx, order_id)

    iid = await orders.start(order_id="O-7")
    result = await app.wait_for_result(iid, timeout=5)
    events = await app.storage.list_outbox()
    assert [(e.event_id, e.event_type, e.event_source, e.data, e.instance_id) for e in events] == [
        (result["event_id"], "order.created", "order-service", {"order_id": "O-7"}, iid)
    ]


async def test_rolled_back_activity_leaves_no_event(app: EddaApp) -> None:
    @activity
    async def half_done(ctx: WorkflowContext) -> None:
        await send_event_transactional(ctx, "should.not.exist", "svc", {"a": 1})
        raise TerminalError("changed my mind")

    @workflow
    async def rollback(ctx: WorkflowContext) -> None:
        await half_done(ctx)

    iid = await rollback.start()
    with pytest.raises(WorkflowFailedError):
        await app.wait_for_result(iid, timeout=5)
    assert await app.storage.list_outbox() == []


async def test_post_commit_runs_after_commit_and_never_after_rollback(app: EddaApp) -> None:
    seen: list[str] = []

    @activity
    async def ok(ctx: WorkflowContext) -> None:
        async def after() -> None:
            history = await ctx.storage.get_history(ctx.instance_id)
            seen.append(f"after commit, history has {[h.activity_id for h in history]}")

        ctx.register_post_commit(after)
        seen.append("in activity")

    @activity
    async def bad(ctx: WorkflowContext) -> None:
        async def never() -> None:
            seen.append("never")

        ctx.register_post_commit(never)
        raise TerminalError("x")

    @workflow
    async def callbacks(ctx: WorkflowContext) -> None:
        await ok(ctx)
        try:
            await bad(ctx)
        except TerminalError:
            pass

    await app.wait_for_result(await callbacks.start(), timeout=5)
    assert seen == ["in activity", "after commit, history has ['ok:1']"]


async def test_context_helpers_outside_transactions(app: EddaApp) -> None:
    @workflow
    async def outside(ctx: WorkflowContext) -> list[str]:
        errors = []
        for attempt in (lambda: ctx.session, lambda: ctx.register_post_commit(lambda: None)):
            try:
                attempt()
            except RuntimeError as exc:
                errors.append(str(exc))
        try:
            await send_event_transactional(ctx, "t", "s", {})
        except RuntimeError as exc:
            errors.append(str(exc))
        return errors

    errors = await app.wait_for_result(await outside.start(), timeout=5)
    assert "only available inside an @activity" in errors[0]
    assert "needs a transaction" in errors[1]
    assert "must be called inside an @activity" in errors[2]


async def test_session_on_memory_storage_explains_sql_is_needed(app: EddaApp) -> None:
    @activity
    async def wants_session(ctx: WorkflowContext) -> None:
        ctx.session

    @workflow
    async def no_sql(ctx: WorkflowContext) -> None:
        await wants_session(ctx)

    with pytest.raises(WorkflowFailedError, match="ctx.session needs SQL storage"):
        await app.wait_for_result(await no_sql.start(), timeout=5)


async def test_workflow_level_transaction_block_and_savepoints(app: EddaApp) -> None:
    @activity
    async def nested(ctx: WorkflowContext) -> str:
        try:
            async with ctx.transaction():
                await send_event_transactional(ctx, "inner", "svc", {})
                raise ValueError("inner block fails alone")
        except ValueError:
            pass
        await send_event_transactional(ctx, "outer", "svc", {})
        return "ok"

    @workflow
    async def blocks(ctx: WorkflowContext) -> str:
        async with ctx.transaction():
            assert ctx.in_transaction()
            await send_event_transactional(ctx, "from.workflow.block", "svc", {"n": 1})
        return await nested(ctx)

    assert await app.wait_for_result(await blocks.start(), timeout=5) == "ok"
    types = [e.event_type for e in await app.storage.list_outbox()]
    assert types == ["from.workflow.block", "outer"]  # "inner" was rolled back with its savepoint


class _CountingStorage(InMemoryStorage):
    """The reference storage, counting the engine's step commits (each is one durable commit on SQL storage)."""

    def __init__(self) -> None:
        super().__init__()
        self.step_commits: list[tuple[str, ...]] = []

    async def commit_step(self, commit: StepCommit, *, tx: Any = None) -> StepOutcome:
        outcome = await super().commit_step(commit, tx=tx)
        self.step_commits.append(tuple(e.activity_id for e in commit.history))
        return outcome


async def test_each_activity_is_committed_before_its_await_returns() -> None:
    # The commit rule: when `await activity(...)` returns in workflow code, its result is durable. A 3-activity
    # workflow therefore costs one commit per activity plus the completion (the start is create_instance).
    storage = _CountingStorage()
    seen: list[list[str]] = []

    @activity
    async def step_a(ctx: WorkflowContext, x: int) -> int:
        return x + 1

    @activity
    async def step_b(ctx: WorkflowContext, x: int) -> int:
        return x * 2

    @activity
    async def step_c(ctx: WorkflowContext, x: int) -> int:
        return x - 1

    async def durable_ids(ctx: WorkflowContext) -> None:
        seen.append([e.activity_id for e in await storage.get_history(ctx.instance_id)])

    @workflow
    async def three(ctx: WorkflowContext, n: int) -> int:
        a = await step_a(ctx, n)
        await durable_ids(ctx)  # workflow code between two steps: a side effect the previous result must precede
        b = await step_b(ctx, a)
        await durable_ids(ctx)
        c = await step_c(ctx, b)
        await durable_ids(ctx)
        return c

    async with EddaApp(service_name="test", storage=storage) as app:
        iid = await three.start(n=5)
        assert await app.wait_for_result(iid, timeout=5) == 11
        record = await storage.get_instance(iid)
        assert record is not None and record.status == "completed"
    assert seen == [["step_a:1"], ["step_a:1", "step_b:1"], ["step_a:1", "step_b:1", "step_c:1"]]
    assert storage.step_commits == [("step_a:1",), ("step_b:1",), ("step_c:1",), ()]


async def test_a_failed_activity_is_committed_before_the_error_reaches_the_workflow() -> None:
    storage = _CountingStorage()
    seen: list[list[str]] = []

    @activity
    async def refuse(ctx: WorkflowContext) -> None:
        raise TerminalError("no")

    @workflow
    async def handled(ctx: WorkflowContext) -> str:
        try:
            await refuse(ctx)
        except TerminalError:
            seen.append([e.event_type for e in await storage.get_history(ctx.instance_id)])
        return "handled"

    async with EddaApp(service_name="test", storage=storage) as app:
        iid = await handled.start()
        assert await app.wait_for_result(iid, timeout=5) == "handled"
    assert seen == [["ActivityFailed"]]


async def test_concurrent_activities_do_not_hold_a_result_while_another_runs() -> None:
    # While another activity is still executing, a finished one commits at once (never deferred across it).
    storage = _CountingStorage()
    release = asyncio.Event()

    @activity
    async def quick(ctx: WorkflowContext) -> str:
        return "quick"

    @activity
    async def slow(ctx: WorkflowContext) -> str:
        await release.wait()
        return "slow"

    @workflow
    async def both(ctx: WorkflowContext) -> list[str]:
        return list(await asyncio.gather(quick(ctx, activity_id="q:1"), slow(ctx, activity_id="s:1")))

    async with EddaApp(service_name="test", storage=storage) as app:
        iid = await both.start()
        for _ in range(200):
            if any("q:1" in ids for ids in storage.step_commits):
                break
            await asyncio.sleep(0.005)
        history = [e.activity_id for e in await storage.get_history(iid)]
        assert "q:1" in history and "s:1" not in history
        release.set()
        assert await app.wait_for_result(iid, timeout=5) == ["quick", "slow"]
    assert storage.step_commits == [("q:1",), ("s:1",), ()]
