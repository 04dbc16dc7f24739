"""Shapes the API reference (seed 003) uses: ``@saga``, ``join_group``/``wait_message``, ``await ctx.recur()`` with
no arguments, and ``ctx.storage.append_history(...)`` inside ``ctx.transaction()``."""

from __future__ import annotations

import asyncio
import sys

import pytest

from edda import (
    EddaApp,
    WorkflowContext,
    join_group,
    leave_group,
    publish,
    receive,
    saga,
    subscribe,
    wait_message,
    workflow,
)


async def test_saga_and_wait_message_are_the_same_objects_as_workflow_and_receive() -> None:
    assert saga is workflow and wait_message is receive


async def test_join_group_is_a_broadcast_subscription(app: EddaApp) -> None:
    @saga
    async def watcher(ctx: WorkflowContext) -> list[str]:
        await join_group(ctx, group="watchers")
        first = await wait_message(ctx, channel="watchers")
        await leave_group(ctx, group="watchers")
        await subscribe(ctx, "watchers")
        second = await wait_message(ctx, channel="watchers")
        return [first.data["n"], second.data["n"]]

    iid = await watcher.start()
    await publish(app, "watchers", {"n": "one"})
    while (await app.get_instance(iid)).status != "waiting_for_message":  # type: ignore[union-attr]
        await asyncio.sleep(0.01)
    await publish(app, "watchers", {"n": "two"})
    assert await app.wait_for_result(iid, timeout=5) == ["one", "two"]
    history = await app.storage.get_history(iid, iteration=0)
    assert [e.event_data.get("mode") for e in history if e.event_type == "ChannelSubscribed"] == ["broadcast"] * 2


async def test_recur_without_arguments_keeps_the_current_input(app: EddaApp) -> None:
    seen: list[tuple[str, int]] = []

    @workflow
    async def consumer(ctx: WorkflowContext, id: str, round: int = 0) -> str:
        seen.append((id, round))
        if round < 2:
            await ctx.recur(round=round + 1)  # only `round` given: `id` keeps its value
        return f"{id} done"

    calls = {"n": 0}

    @workflow
    async def looper(ctx: WorkflowContext, id: str) -> str:
        calls["n"] += 1
        if calls["n"] < 3:
            await ctx.recur()
        return id

    iid = await looper.start(id="w-1")
    assert await app.wait_for_result(iid, timeout=5) == "w-1"
    record = await app.get_instance(iid)
    assert record is not None and record.iteration == 2 and record.input_data == {"id": "w-1"}

    iid = await consumer.start(id="c-1")
    assert await app.wait_for_result(iid, timeout=5) == "c-1 done"
    assert seen == [("c-1", 0), ("c-1", 1), ("c-1", 2)]


async def test_append_history_commits_with_the_transaction_block(app: EddaApp) -> None:
    @workflow
    async def saves(ctx: WorkflowContext, fail: bool) -> str:
        try:
            async with ctx.transaction():
                await ctx.storage.append_history(ctx.instance_id, "save:1", "OrderSaved", {"order": "O-1"})
                if fail:
                    raise RuntimeError("abort the block")
        except RuntimeError:
            pass
        await ctx.storage.append_history(None, "note:1", "Checked", {"ok": True})  # outside a block: at once
        return "ok"

    kept = await saves.start(fail=False)
    dropped = await saves.start(fail=True)
    for iid in (kept, dropped):
        assert await app.wait_for_result(iid, timeout=5) == "ok"
    notes = {
        iid: [(e.activity_id, e.event_type, e.event_data) for e in await app.storage.get_history(iid)]
        for iid in (kept, dropped)
    }
    assert notes[kept] == [("save:1", "OrderSaved", {"order": "O-1"}), ("note:1", "Checked", {"ok": True})]
    assert notes[dropped] == [("note:1", "Checked", {"ok": True})]  # rolled back with its block


async def test_append_history_refuses_engine_types_and_other_instances(app: EddaApp) -> None:
    errors: list[str] = []

    @workflow
    async def meddles(ctx: WorkflowContext) -> list[str]:
        for args in ((ctx.instance_id, "x:1", "ActivityCompleted", {}), ("someone-else", "x:1", "Note", {})):
            try:
                await ctx.storage.append_history(*args)
            except ValueError as exc:
                errors.append(str(exc))
        return errors

    iid = await meddles.start()
    result = await app.wait_for_result(iid, timeout=5)
    assert len(result) == 2 and "reserved" in result[0] and "someone-else" in result[1]
    assert await app.storage.get_history(iid) == []


@pytest.mark.parametrize("name", ["join_group", "leave_group", "wait_message", "saga"])
def test_the_older_names_are_importable_from_the_0_16_modules(name: str) -> None:
    import edda.channels
    import edda.workflow as workflow_module  # the decorator (see docs/import-paths.md); its module is in sys.modules

    module = sys.modules["edda.workflow"] if name == "saga" else edda.channels
    assert getattr(module, name) is getattr(__import__("edda"), name)
    assert workflow_module is workflow
