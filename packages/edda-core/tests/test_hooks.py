"""Every hook is called at its moment with its documented arguments; a failing hook never breaks a workflow."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from edda import (
    EddaApp,
    HooksBase,
    RetryPolicy,
    TerminalError,
    WorkflowContext,
    WorkflowFailedError,
    WorkflowHooks,
    activity,
    send_event_transactional,
    workflow,
)
from edda.storage.memory import InMemoryStorage
from edda.testing import FakeClock


class Recorder(HooksBase):
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    async def on_workflow_start(self, instance_id, workflow_name, input_data):  # type: ignore[no-untyped-def]
        self.calls.append(("workflow_start", workflow_name, input_data))

    async def on_workflow_complete(self, instance_id, workflow_name, result):  # type: ignore[no-untyped-def]
        self.calls.append(("workflow_complete", workflow_name, result))

    async def on_workflow_failed(self, instance_id, workflow_name, error):  # type: ignore[no-untyped-def]
        self.calls.append(("workflow_failed", workflow_name, type(error).__name__, str(error)))

    async def on_activity_start(self, instance_id, activity_id, activity_name, is_replaying):  # type: ignore
        self.calls.append(("activity_start", activity_id, activity_name, is_replaying))

    async def on_activity_complete(self, instance_id, activity_id, activity_name, result, cache_hit):  # type: ignore
        self.calls.append(("activity_complete", activity_id, result, cache_hit))

    async def on_activity_failed(self, instance_id, activity_id, activity_name, error):  # type: ignore
        self.calls.append(("activity_failed", activity_id, type(error).__name__))

    async def on_activity_retry(self, instance_id, activity_id, activity_name, error, attempt, delay):  # type: ignore
        self.calls.append(("activity_retry", activity_id, str(error), attempt, delay))

    async def on_event_sent(self, event_type, event_source, event_data):  # type: ignore[no-untyped-def]
        self.calls.append(("event_sent", event_type, event_source, event_data))


async def test_hooks_are_called_with_documented_arguments() -> None:
    hooks = Recorder()
    assert isinstance(hooks, WorkflowHooks)
    app = EddaApp(storage=InMemoryStorage(), hooks=hooks, clock=FakeClock())
    await app.initialize()
    tries = 0

    @activity(retry_policy=RetryPolicy(max_attempts=3, initial_interval=2))
    async def flaky(ctx: WorkflowContext, x: int) -> int:
        nonlocal tries
        tries += 1
        if tries == 1:
            raise ConnectionError("blip")
        await send_event_transactional(ctx, "thing.done", "svc", {"x": x})
        return x * 2

    @activity
    async def fatal(ctx: WorkflowContext) -> None:
        raise TerminalError("nope")

    @workflow
    async def observed(ctx: WorkflowContext, x: int) -> int:
        return await flaky(ctx, x)

    @workflow
    async def failing(ctx: WorkflowContext) -> None:
        await fatal(ctx)

    try:
        iid = await observed.start(x=21)
        assert await app.wait_for_result(iid, timeout=5) == 42
        await asyncio.sleep(0.05)
        assert hooks.calls == [
            ("workflow_start", "observed", {"x": 21}),
            ("activity_start", "flaky:1", "flaky", False),
            ("activity_retry", "flaky:1", "blip", 1, 2.0),
            # The activity's result and its outbox event commit before the await returns, so the event's
            # post-commit hook runs before on_activity_complete.
            ("event_sent", "thing.done", "svc", {"x": 21}),
            ("activity_complete", "flaky:1", 42, False),
            ("workflow_complete", "observed", 42),
        ]
        hooks.calls.clear()
        fid = await failing.start()
        with pytest.raises(WorkflowFailedError):
            await app.wait_for_result(fid, timeout=5)
        await asyncio.sleep(0.01)
        assert hooks.calls == [
            ("workflow_start", "failing", {}),
            ("activity_start", "fatal:1", "fatal", False),
            ("activity_failed", "fatal:1", "TerminalError"),
            ("workflow_failed", "failing", "TerminalError", "nope"),
        ]
    finally:
        await app.shutdown()


async def test_replayed_activities_report_cache_hits() -> None:
    from edda.testing import simulate_crash

    storage = InMemoryStorage()
    gate = asyncio.Event()

    @activity
    async def first(ctx: WorkflowContext) -> str:
        return "one"

    @activity
    async def second(ctx: WorkflowContext) -> str:
        await gate.wait()
        return "two"

    @workflow
    async def replayed(ctx: WorkflowContext) -> str:
        return await first(ctx) + await second(ctx)

    app1 = EddaApp(storage=storage)
    await app1.initialize()
    iid = await replayed.start()
    while not storage._history:
        await asyncio.sleep(0.005)
    await simulate_crash(app1)
    gate.set()
    hooks = Recorder()
    app2 = EddaApp(storage=storage, hooks=hooks, recovery_interval=0.02)
    await app2.initialize()
    try:
        assert await app2.wait_for_result(iid, timeout=5) == "onetwo"
    finally:
        await app2.shutdown()
    assert ("activity_start", "first:1", "first", True) in hooks.calls
    assert ("activity_complete", "first:1", "one", True) in hooks.calls
    assert ("activity_complete", "second:1", "two", False) in hooks.calls


async def test_partial_and_failing_hooks_never_break_workflows(caplog: pytest.LogCaptureFixture) -> None:
    class Broken:  # structural: implements only two hooks, one of them sync, both raising
        def on_workflow_start(self, instance_id: str, workflow_name: str, input_data: dict) -> None:
            raise RuntimeError("hook bug")

        async def on_activity_complete(self, *args: Any) -> None:
            raise ValueError("another hook bug")

    @activity
    async def act(ctx: WorkflowContext) -> int:
        return 7

    @workflow
    async def sturdy(ctx: WorkflowContext) -> int:
        return await act(ctx)

    async with EddaApp(storage=InMemoryStorage(), hooks=Broken()) as app:
        assert await app.wait_for_result(await sturdy.start(), timeout=5) == 7
    messages = [r.getMessage() for r in caplog.records if r.name == "edda.hooks"]
    assert any("Broken.on_workflow_start raised" in m for m in messages)
    assert any("Broken.on_activity_complete raised" in m for m in messages)
