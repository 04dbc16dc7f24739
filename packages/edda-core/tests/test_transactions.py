"""Activity transactions on memory storage: outbox atomicity, post-commit callbacks, ctx helpers."""

from __future__ import annotations

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
