"""Trace context across CloudEvents, over real HTTP on 127.0.0.1 with the official ``cloudevents`` SDK: out of
``send_event`` and the outbox (relayed by the real relayer, also from another process), and into the workflows
that incoming events start or wake."""

from __future__ import annotations

import asyncio
import sys
import textwrap
from typing import Any

import httpx
import pytest
from opentelemetry import trace

from edda import EddaApp, WorkflowContext, activity, send_event, send_event_transactional, wait_event, workflow
from edda_opentelemetry import OpenTelemetryHooks, extract_trace_context, inject_trace_context

http = pytest.importorskip("cloudevents.core.bindings.http", reason="needs the cloudevents SDK (2.x)")
JSONFormat = pytest.importorskip("cloudevents.core.formats.json").JSONFormat
SdkCloudEvent = pytest.importorskip("cloudevents.core.v1.event").CloudEvent


@activity
async def otel_notify_from_activity(ctx: WorkflowContext, url: str) -> None:
    await send_event("otel.from.activity", "/otel", b"\x00raw", broker_url=url)  # bytes: binary content mode


@workflow
async def otel_notifier(ctx: WorkflowContext, url: str) -> None:
    await send_event("otel.from.workflow", "/otel", {"step": "workflow"}, broker_url=url)
    await otel_notify_from_activity(ctx, url)


async def test_sent_events_carry_the_span_that_sent_them(app: EddaApp, spans: Any, kit: Any) -> None:
    receiver = kit.Receiver()
    async with kit.serve(receiver) as url:
        await app.wait_for_result(await otel_notifier.start(url=url + "/events"), timeout=10)
    run, act = spans.one("workflow:otel_notifier"), spans.one("activity:otel_notify_from_activity")
    from_workflow, from_activity = receiver.by_type("otel.from.workflow"), receiver.by_type("otel.from.activity")
    assert from_workflow.get_extension("traceparent") == kit.traceparent_of(run)
    assert from_activity.get_extension("traceparent") == kit.traceparent_of(act)
    [(binary_headers, body)] = [(h, b) for h, b in receiver.requests if h.get("ce-type") == "otel.from.activity"]
    assert body == b"\x00raw" and binary_headers["ce-traceparent"] == kit.traceparent_of(act)  # binary mode


@activity
async def otel_record_order(ctx: WorkflowContext, order_id: str) -> str:
    return await send_event_transactional(ctx, "otel.order.recorded", "/orders", {"order_id": order_id})


@workflow
async def otel_orders(ctx: WorkflowContext, order_id: str) -> str:
    return await otel_record_order(ctx, order_id)


async def test_outbox_events_keep_the_traceparent_of_the_activity_that_wrote_them(
    db_url: str, hooks: OpenTelemetryHooks, spans: Any, metrics: Any, kit: Any
) -> None:
    pytest.importorskip("edda_outbox", reason="needs the outbox relayer: pip install edda-outbox")
    receiver = kit.Receiver()
    published = {"outbox_outcome": "published", "event_type": "otel.order.recorded"}
    async with kit.serve(receiver) as url:
        async with EddaApp(db_url=db_url, hooks=hooks, outbox_enabled=True, broker_url=url + "/events") as app:
            event_id = await app.wait_for_result(await otel_orders.start(order_id="O-1"), timeout=10)
            await kit.wait_until(lambda: metrics.value("edda.outbox.deliveries", **published) == 1)
    event = receiver.by_type("otel.order.recorded")
    writer = spans.one("activity:otel_record_order")
    assert event.get_id() == event_id
    assert event.get_extension("traceparent") == kit.traceparent_of(writer)
    sent = [dict(e.attributes or {}) for e in writer.events if e.name == "event_sent"]
    assert sent == [{"edda.event.type": "otel.order.recorded", "edda.event.source": "/orders"}]


async def test_a_refused_outbox_event_is_counted_as_failed(
    db_url: str, hooks: OpenTelemetryHooks, metrics: Any, kit: Any
) -> None:
    pytest.importorskip("edda_outbox", reason="needs the outbox relayer: pip install edda-outbox")
    receiver = kit.Receiver()
    receiver.status = 400  # refused for good: the event fails (and holds back its instance's later ones)
    failed = {"outbox_outcome": "failed", "event_type": "otel.order.recorded"}
    async with kit.serve(receiver) as url:
        async with EddaApp(db_url=db_url, hooks=hooks, outbox_enabled=True, broker_url=url + "/events") as app:
            await app.wait_for_result(await otel_orders.start(order_id="O-2"), timeout=10)
            await kit.wait_until(lambda: metrics.value("edda.outbox.deliveries", **failed) == 1)
    assert metrics.value("edda.outbox.deliveries", outbox_outcome="published") == 0
    assert len(receiver.requests) == 1


RELAY_ELSEWHERE = """
import asyncio, sys
from edda.storage import open_storage
from edda_outbox import OutboxRelayer

async def main():
    storage = open_storage("sqlite:///" + sys.argv[1])
    await storage.initialize()
    relayer = OutboxRelayer(storage, sys.argv[2])
    try:
        print(await relayer.relay_once())
    finally:
        await relayer.stop()
        await storage.close()

asyncio.run(main())
"""


async def test_an_outbox_event_relayed_later_by_another_process_keeps_its_traceparent(
    db_url: str, hooks: OpenTelemetryHooks, spans: Any, kit: Any
) -> None:
    pytest.importorskip("edda_outbox", reason="needs the outbox relayer: pip install edda-outbox")
    async with EddaApp(db_url=db_url, hooks=hooks) as app:  # no relayer here: the event waits in the outbox
        await app.wait_for_result(await otel_orders.start(order_id="O-2"), timeout=10)
    writer = spans.one("activity:otel_record_order")
    receiver = kit.Receiver()
    async with kit.serve(receiver) as url:
        relay = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            textwrap.dedent(RELAY_ELSEWHERE),
            db_url.removeprefix("sqlite:///"),
            url + "/events",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(relay.communicate(), 60)
    assert relay.returncode == 0, err.decode()
    assert out.decode().strip() == "1"
    assert receiver.by_type("otel.order.recorded").get_extension("traceparent") == kit.traceparent_of(writer)


@workflow(event_handler=True)
async def otel_payment_received(ctx: WorkflowContext, amount: float) -> float:
    return await otel_double(ctx, amount)


@activity
async def otel_double(ctx: WorkflowContext, amount: float) -> float:
    return amount * 2


@workflow
async def otel_awaits_shipment(ctx: WorkflowContext) -> dict[str, Any]:
    event = await wait_event(ctx, "otel.shipped")
    legacy = extract_trace_context(event)  # 0.16.2's helper reads the extension, or _trace_context in the data
    sender = None if legacy is None else trace.get_current_span(legacy).get_span_context().span_id
    return {"sender": sender}


def _event(event_type: str, data: Any, **extensions: str) -> Any:
    return SdkCloudEvent({"type": event_type, "source": "/sender", **extensions}, data)


async def test_an_incoming_traceparent_is_the_parent_of_the_workflow_it_starts(
    app: EddaApp, spans: Any, kit: Any
) -> None:
    asgi = pytest.importorskip("edda_asgi", reason="needs the HTTP transport: pip install edda-asgi")
    sender = spans.provider.get_tracer("sender").start_span("publish payment")
    sender.end()
    async with kit.serve(asgi.create_asgi_app(app)) as url, httpx.AsyncClient() as client:
        message = http.to_binary(
            _event("otel_payment_received", {"amount": 4.0}, traceparent=kit.traceparent_of(sender)), JSONFormat()
        )
        response = await client.post(url + "/", headers=message.headers, content=message.body)
        assert response.status_code == 202
        await kit.wait_until(lambda: spans.named("workflow:otel_payment_received"))
    start, run = spans.one("start_workflow:otel_payment_received"), spans.one("workflow:otel_payment_received")
    assert kit.parent_id(start) == kit.span_id(sender)
    assert kit.parent_id(run) == kit.span_id(start)
    assert kit.parent_id(spans.one("activity:otel_double")) == kit.span_id(run)
    assert {kit.trace_id(s) for s in (start, run)} == {kit.trace_id(sender)}


async def test_a_received_event_is_linked_on_the_run_it_wakes(app: EddaApp, spans: Any, kit: Any) -> None:
    asgi = pytest.importorskip("edda_asgi", reason="needs the HTTP transport: pip install edda-asgi")
    sender = spans.provider.get_tracer("sender").start_span("ship order")
    sender.end()
    iid = await otel_awaits_shipment.start()
    await kit.wait_status(app, iid, "waiting_for_event")
    async with kit.serve(asgi.create_asgi_app(app)) as url, httpx.AsyncClient() as client:
        event = _event("otel.shipped", {"parcel": 1}, id="evt-ship", traceparent=kit.traceparent_of(sender))
        message = http.to_structured(event, JSONFormat())
        assert (await client.post(url + "/", headers=message.headers, content=message.body)).status_code == 202
        assert await app.wait_for_result(iid, timeout=10) == {"sender": kit.span_id(sender)}
    waiting, woken = spans.named("workflow:otel_awaits_shipment")
    assert not waiting.links
    [link] = woken.links
    assert (link.context.trace_id, link.context.span_id) == (kit.trace_id(sender), kit.span_id(sender))
    expected = {"edda.event.type": "otel.shipped", "edda.event.id": "evt-ship", "edda.event.source": "/sender"}
    assert dict(link.attributes or {}) == expected
    assert [(e.name, dict(e.attributes or {})) for e in woken.events] == [("event_received", expected)]
    assert kit.trace_id(woken) != kit.trace_id(sender)  # linked, not adopted: the instance keeps its own trace


async def test_the_016_trace_context_in_event_data_is_still_read(
    app: EddaApp, hooks: OpenTelemetryHooks, spans: Any, kit: Any
) -> None:
    iid = await otel_awaits_shipment.start()
    await kit.wait_status(app, iid, "waiting_for_event")
    with spans.provider.get_tracer("sender").start_as_current_span("0.16 sender") as sender:
        data = inject_trace_context(hooks, None, {"parcel": 2})
    assert data == {"parcel": 2, "_trace_context": {"traceparent": kit.traceparent_of(spans.one("0.16 sender"))}}
    await app.handle_cloudevent({"type": "otel.shipped", "source": "/old", "id": "evt-old", "data": data})
    assert await app.wait_for_result(iid, timeout=10) == {"sender": sender.get_span_context().span_id}
    [link] = spans.named("workflow:otel_awaits_shipment")[-1].links
    assert link.context.span_id == sender.get_span_context().span_id


async def test_on_event_handlers_run_under_the_incoming_span(app: EddaApp, spans: Any, kit: Any) -> None:
    tracer = spans.provider.get_tracer("handler")

    @app.on_event("otel.audit")
    async def audit(event: Any) -> None:
        with tracer.start_as_current_span("audit work"):
            pass

    sender = spans.provider.get_tracer("sender").start_span("emit audit")
    sender.end()
    event = {"type": "otel.audit", "source": "/s", "id": "evt-a", "traceparent": kit.traceparent_of(sender)}
    await app.handle_cloudevent(event, wait=True)
    # The handler runs as a durable step of an internal workflow started from the event: its spans descend from
    # the sender's span through that workflow's start, run and activity spans.
    by_id = {kit.span_id(s): s for s in spans.all}
    chain, span = [], spans.one("audit work")
    while kit.parent_id(span) in by_id:
        span = by_id[kit.parent_id(span)]
        chain.append(span.name)
    assert chain == [
        "activity:edda.on_event.handler",
        "workflow:edda.on_event.otel.audit",
        "start_workflow:edda.on_event.otel.audit",
        "emit audit",
    ]
