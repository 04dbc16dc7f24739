"""The hook points edda-core gives tracers (runs, trace context in history and in CloudEvents), with a plain
recording ``HooksBase`` on SQLite, PostgreSQL and MySQL: the contract OpenTelemetryHooks builds on."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from typing import Any

import pytest

from edda import EddaApp, HooksBase, WorkflowContext, activity, send_event, sleep, wait_event, workflow
from edda.testing import simulate_crash

current_event: contextvars.ContextVar[str | None] = contextvars.ContextVar("otel_test_event", default=None)


class Recorder(HooksBase):
    def __init__(self, context: Any = None, extensions: Any = None) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.context = context
        self.extensions = extensions

    def workflow_trace_context(self, instance_id: str, workflow_name: str) -> Any:
        self.calls.append(("asked", workflow_name))
        return self.context

    async def on_workflow_run_start(self, instance_id: str, workflow_name: str, trace_context: Any) -> None:
        self.calls.append(("run_start", workflow_name, trace_context))

    async def on_workflow_run_end(self, instance_id: str, workflow_name: str, outcome: str) -> None:
        self.calls.append(("run_end", workflow_name, outcome))

    def event_trace_context(self, instance_id: str | None) -> Any:
        self.calls.append(("event_context", instance_id))
        return self.extensions

    async def on_cloudevent_received(self, instance_id: str, event: Any) -> None:
        self.calls.append(("received", instance_id, event.type, event.id))

    async def on_cloudevent_dispatch(self, event: Any) -> None:
        current_event.set(event["id"])
        self.calls.append(("dispatch", event["type"], event.get("traceparent")))

    async def on_workflow_start(self, instance_id: str, workflow_name: str, input_data: dict[str, Any]) -> None:
        self.calls.append(("start", workflow_name, current_event.get()))

    def of(self, *kinds: str) -> list[tuple[Any, ...]]:
        return [c for c in self.calls if c[0] in kinds]


@activity
async def otel_core_step(ctx: WorkflowContext, n: int) -> int:
    return n


@workflow
async def otel_core_cycle(ctx: WorkflowContext, n: int) -> str:
    await otel_core_step(ctx, n)
    await sleep(ctx, 0.01)
    if n > 0:
        await ctx.recur(n=n - 1)
    return "done"


async def test_each_run_gets_the_context_kept_in_history_and_says_how_it_ended(any_db_url: str) -> None:
    hooks = Recorder(context={"traceparent": "tp-1", "anything": "kept"})
    async with EddaApp(service_name="otel-core", db_url=any_db_url, hooks=hooks) as app:
        iid = await otel_core_cycle.start(n=1)
        assert await app.wait_for_result(iid, timeout=10) == "done"
        history = await app.storage.get_history(iid)
    kept = {"traceparent": "tp-1", "anything": "kept"}
    assert hooks.of("asked", "run_start", "run_end") == [
        ("asked", "otel_core_cycle"),  # once, at the first run
        ("run_start", "otel_core_cycle", kept),
        ("run_end", "otel_core_cycle", "suspended"),
        ("run_start", "otel_core_cycle", kept),
        ("run_end", "otel_core_cycle", "recurred"),
        ("run_start", "otel_core_cycle", kept),  # the new iteration: carried over, not asked again
        ("run_end", "otel_core_cycle", "suspended"),
        ("run_start", "otel_core_cycle", kept),
        ("run_end", "otel_core_cycle", "finished"),
    ]
    # The current iteration's history keeps the context as a note (first, before the first step's entry).
    assert [(e.activity_id, e.event_type) for e in history][:2] == [
        ("edda:trace", "TraceContext"),
        ("otel_core_step:1", "ActivityCompleted"),
    ]
    assert history[0].event_data == {"context": kept}


gate: dict[str, asyncio.Event] = {}


@activity
async def otel_core_blocks(ctx: WorkflowContext) -> str:
    gate["entered"].set()
    await gate["open"].wait()
    return "through"


@workflow
async def otel_core_blocked(ctx: WorkflowContext) -> str:
    return await otel_core_blocks(ctx)


async def test_a_crashed_run_ends_interrupted_and_the_next_process_gets_the_kept_context(any_db_url: str) -> None:
    gate["open"], gate["entered"] = asyncio.Event(), asyncio.Event()
    first = Recorder(context={"traceparent": "from-the-first-process"})
    # A short lease: on PostgreSQL and MySQL the next app takes over once the crashed one's lease has expired.
    app = EddaApp(service_name="otel-core", db_url=any_db_url, hooks=first, lease_timeout_seconds=1)
    await app.initialize()
    iid = await otel_core_blocked.start()
    await asyncio.wait_for(gate["entered"].wait(), 10)  # the context was committed before the activity ran
    await simulate_crash(app)
    assert first.of("run_end") == [("run_end", "otel_core_blocked", "interrupted")]

    gate["open"].set()
    second = Recorder(context={"traceparent": "never-used"})
    async with EddaApp(service_name="otel-core", db_url=any_db_url, hooks=second, lease_timeout_seconds=1) as again:
        assert await again.wait_for_result(iid, timeout=30) == "through"
    assert second.of("asked", "run_start") == [
        ("run_start", "otel_core_blocked", {"traceparent": "from-the-first-process"})
    ]


@workflow
async def otel_core_sender(ctx: WorkflowContext, mine: bool) -> str:
    extensions = {"tracestate": "set-by-caller"} if mine else None
    return await send_event("otel.core.ping", "/sender", {"mine": mine}, extensions=extensions)


@workflow
async def otel_core_receiver(ctx: WorkflowContext) -> dict[str, Any]:
    event = await wait_event(ctx, "otel.core.ping")
    await sleep(ctx, 0.01)  # a later run replays the wait: the received-hook is not called again
    return event.extensions


async def test_the_hooks_trace_context_becomes_extension_attributes_of_sent_events(any_db_url: str) -> None:
    context = {"traceparent": "00-abc", "tracestate": "k=v", "Not-An-Extension": "x", "waytoolongforanextension": "y"}
    context |= {"type": "hijacked", "id": "hijacked", "eddainstanceid": "someone-else"}  # never from hooks
    hooks = Recorder(extensions=context)
    async with EddaApp(service_name="otel-core", db_url=any_db_url, hooks=hooks) as app:
        results = []
        for mine in (False, True):
            receiver = await otel_core_receiver.start()
            await _wait_status(app, receiver, "waiting_for_event")
            sender = await otel_core_sender.start(mine=mine)
            event_id = await app.wait_for_result(sender, timeout=10)
            results.append(await app.wait_for_result(receiver, timeout=10))
            assert ("event_context", sender) in hooks.calls
            assert hooks.of("received")[-1] == ("received", receiver, "otel.core.ping", event_id)
        await send_event("otel.core.unheard", "/script", {})  # outside workflows: the app's hooks are asked
    assert results == [
        {"traceparent": "00-abc", "tracestate": "k=v"},
        {"traceparent": "00-abc", "tracestate": "set-by-caller"},
    ]
    assert len(hooks.of("received")) == 2  # one per receiver, though each replays its wait once more
    assert hooks.of("event_context")[-1] == ("event_context", None)


@workflow(event_handler=True)
async def otel_core_handled(ctx: WorkflowContext, n: int) -> int:
    return n


async def test_each_handler_and_workflow_start_sees_the_incoming_event_first(any_db_url: str) -> None:
    hooks = Recorder()
    seen: list[str | None] = []
    async with EddaApp(service_name="otel-core", db_url=any_db_url, hooks=hooks) as app:

        @app.on_event("otel_core_handled")
        async def handler(event: Any) -> None:
            seen.append(current_event.get())

        event = {"type": "otel_core_handled", "source": "/t", "id": "evt-7", "traceparent": "00-in", "data": {"n": 3}}
        await app.handle_cloudevent(event, wait=True)
        assert current_event.get() is None  # set in the handler's own task only, not in the caller's
    assert seen == ["evt-7"]
    # Once per event, before the instances it sets off are started: the handlers' internal workflow and the
    # event-handler workflow both start in the event's context.
    assert hooks.of("dispatch") == [("dispatch", "otel_core_handled", "00-in")]
    assert sorted(hooks.of("start")) == [
        ("start", "edda.on_event.otel_core_handled", "evt-7"),
        ("start", "otel_core_handled", "evt-7"),
    ]


@workflow
async def otel_core_plain(ctx: WorkflowContext) -> int:
    return await otel_core_step(ctx, 7)


async def test_hooks_that_give_no_trace_context_change_no_history(any_db_url: str) -> None:
    shapes = []
    for hooks in (None, HooksBase()):
        async with EddaApp(service_name="otel-core", db_url=any_db_url, hooks=hooks) as app:
            iid = await otel_core_plain.start()
            assert await app.wait_for_result(iid, timeout=10) == 7
            shapes.append([(e.activity_id, e.event_type) for e in await app.storage.get_history(iid)])
    assert shapes == [[("otel_core_step:1", "ActivityCompleted")]] * 2


async def test_a_malformed_or_failing_trace_context_is_logged_and_ignored(
    any_db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken(Recorder):
        def event_trace_context(self, instance_id: str | None) -> Any:
            raise RuntimeError("tracer down")

    hooks = Broken(context=["not", "a", "dict"])
    caplog.set_level(logging.WARNING, logger="edda.hooks")
    async with EddaApp(service_name="otel-core", db_url=any_db_url, hooks=hooks) as app:
        receiver = await otel_core_receiver.start()
        await _wait_status(app, receiver, "waiting_for_event")
        await app.wait_for_result(await otel_core_sender.start(mine=False), timeout=10)
        assert await app.wait_for_result(receiver, timeout=10) == {}
        history = await app.storage.get_history(receiver)
    assert ("run_start", "otel_core_receiver", None) in hooks.calls
    assert "TraceContext" not in [e.event_type for e in history]
    messages = [r.getMessage() for r in caplog.records]
    assert any("workflow_trace_context returned list" in m for m in messages)
    assert any("event_trace_context raised" in m for m in messages)


async def _wait_status(app: EddaApp, instance_id: str, status: str) -> None:
    for _ in range(2000):
        record = await app.get_instance(instance_id)
        if record is not None and record.status == status:
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"{instance_id} never reached {status}")
