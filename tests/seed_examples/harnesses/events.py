"""Events: CloudEvents built with the official SDK reach the app over HTTP (uvicorn on loopback), events the
examples send reach a loopback broker, and what waiting workflows receive is checked."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

import edda
from edda import WorkflowContext, activity
from edda.testing import FakeClock
from tests.seed_examples.harnesses._registry import registry
from tests.seed_examples.harnesses._support import (
    Run,
    edda_names,
    execute,
    execute_in,
    harness_app,
    result_of,
    running,
    wait_status,
)
from tests.seed_examples.harnesses.standins import Broker, post_cloudevent, serve

SCENARIOS, scenario = registry()


class PaymentCompleted(BaseModel):
    """The pydantic model the API reference's typed examples name."""

    order_id: str
    amount: float


class OrderCreated(BaseModel):
    """The API reference's "With Pydantic model" send_event example."""

    order_id: str
    amount: float


async def _waiting(app: edda.EddaApp, instance_id: str) -> None:
    await wait_status(app, instance_id, "waiting_for_event", "waiting_for_message", "waiting")


def _body(run: Run, names: dict[str, Any], keep: tuple[str, ...]) -> edda.Workflow:
    """A workflow whose body is the example's text (a fragment of a workflow body); returns the named variables."""

    async def harness_body(ctx: WorkflowContext) -> dict[str, Any]:
        ns = await execute_in(run, {"ctx": ctx, **names})
        return {name: ns.get(name) for name in keep}

    return edda.workflow(harness_body)


@scenario("001_25_payment_workflow")
async def request_reply(run: Run) -> None:
    module = await execute(run)
    app_url: dict[str, str] = {}

    async def payment_service(event: Any) -> None:  # the broker's subscriber: pays, then replies to the app
        if event.get_type() == "payment.requested":
            data = event.get_data()
            reply = {"order_id": data["order_id"], "amount": 42.0}
            await post_cloudevent(app_url["url"] + "/", "payment.completed", "payment-service", reply)

    broker = Broker(on_event=payment_service)
    async with serve(broker, lifespan="off") as broker_url:
        app = harness_app(run, broker_url=broker_url)
        async with running(app), serve(app) as url:
            app_url["url"] = url
            output = await result_of(app, await module.payment_workflow.start(order_id="O-25"))
    request = await broker.wait_for("payment.requested")
    assert request.get_source() == "payment-service" and request.get_data() == {"order_id": "O-25"}
    assert output == {"order_id": "O-25", "amount": 42.0}, output
    run.ok(f"payment.requested reached the broker; the reply CloudEvent resumed the workflow: {output}")


@scenario("001_26_wait_event")
async def received_event_attributes(run: Run) -> None:
    wf = _body(run, edda_names("wait_event"), ("amount", "source", "event_type", "extensions"))
    app = harness_app(run)
    async with running(app), serve(app) as url:
        iid = await wf.start()
        await _waiting(app, iid)
        response = await post_cloudevent(
            url + "/", "payment.completed", "payment-service", {"amount": 12.5}, traceparent="00-abc-def-01"
        )
        assert response.status_code == 202, response.text
        output = await result_of(app, iid)
    assert output["amount"] == 12.5 and output["source"] == "payment-service", output
    assert output["event_type"] == "payment.completed" and output["extensions"].get("traceparent"), output
    run.ok(f"ReceivedEvent gave data, metadata.source/type and extensions: {output}")


@scenario("001_27_wait_event", "003_27_wait_event")
async def event_timeout(run: Run) -> None:
    handled: list[Any] = []

    @activity
    async def cancel_order(ctx: WorkflowContext, order_id: str) -> None:
        handled.append(("cancel_order", order_id))

    async def send_notification(message: str) -> None:
        handled.append(("send_notification", message))

    names = {
        **edda_names("wait_event", "EventTimeoutError"),
        "cancel_order": cancel_order,
        "order_id": "O-27",
        "send_notification": send_notification,
    }
    wf = _body(run, names, ())
    clock = FakeClock()
    async with running(harness_app(run, clock=clock)) as app:
        iid = await wf.start()
        await _waiting(app, iid)
        clock.advance(61)
        await wait_status(app, iid, "completed")
    assert handled in ([("cancel_order", "O-27")], [("send_notification", "Payment timeout")]), handled
    run.ok(f"no event within 60 s (fake clock): EventTimeoutError was handled by {handled[0][0]}")


@scenario("003_20_order_workflow", "003_21_order_workflow_typed")
async def subscribe_then_wait(run: Run) -> None:
    module = await execute(
        run,
        {**edda_names("workflow", "WorkflowContext", "subscribe", "wait_event"), "PaymentCompleted": PaymentCompleted},
    )
    wf = next(v for v in vars(module).values() if isinstance(v, edda.Workflow))
    app = harness_app(run)
    async with running(app), serve(app) as url:
        iid = await wf.start(order_id="O-20")
        await _waiting(app, iid)
        await post_cloudevent(url + "/", "payment.completed", "payment-service", {"order_id": "O-20", "amount": 7.0})
        record = await wait_status(app, iid)
    assert record["status"] == "completed", dict(record)
    run.ok(f"{wf.name} subscribed, waited and completed when payment.completed arrived")


@scenario("003_24_wait_event", "003_25_wait_event")
async def wait_event_data(run: Run) -> None:
    wf = _body(run, {**edda_names("wait_event"), "PaymentCompleted": PaymentCompleted}, ("amount", "order_id"))
    app = harness_app(run)
    async with running(app), serve(app) as url:
        iid = await wf.start()
        await _waiting(app, iid)
        await post_cloudevent(url + "/", "payment.completed", "payment-service", {"order_id": "O-24", "amount": 3.0})
        output = await result_of(app, iid)
    assert output == {"amount": 3.0, "order_id": "O-24"}, output
    run.ok(f"event.data gave {output}")


@scenario("003_26_event_source")
async def cloudevent_metadata(run: Run) -> None:
    async def harness_meta(ctx: WorkflowContext) -> dict[str, Any]:
        event = await edda.wait_event(ctx, "payment.completed")
        ns = await execute_in(run, {"event": event})
        return {k: ns[k] for k in ("event_source", "event_time", "event_id")}

    wf = edda.workflow(harness_meta)
    app = harness_app(run)
    async with running(app), serve(app) as url:
        iid = await wf.start()
        await _waiting(app, iid)
        sent_at = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
        await post_cloudevent(
            url + "/", "payment.completed", "payment-service", {"amount": 1}, time=sent_at, id="evt-26"
        )
        output = await result_of(app, iid)
    assert output["event_source"] == "payment-service" and output["event_id"] == "evt-26", output
    assert output["event_time"] and str(output["event_time"]).startswith("2026-05-01"), output
    run.ok(f"event.source/.time/.id: {output}")


@scenario("003_22_send_event", "003_23_order_created")
async def send_to_broker(run: Run) -> None:
    broker = Broker()
    async with serve(broker, lifespan="off") as broker_url:
        async with running(harness_app(run, broker_url=broker_url)):
            await execute(run, {**edda_names("send_event"), "OrderCreated": OrderCreated})
        event = await broker.wait_for("order.created")
    assert event.get_source() == "order-service", event.get_source()
    assert event.get_data() in ({"order_id": "123"}, {"order_id": "123", "amount": 99.99}), event.get_data()
    run.ok(f"the broker received order.created with {event.get_data()}")


def _protobuf_messages() -> tuple[type, type]:
    """OrderCreated and PaymentCompleted as real protobuf messages, built from a descriptor (no protoc needed)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    proto = descriptor_pb2.FileDescriptorProto(name="seed_orders.proto", package="seed", syntax="proto3")
    for name, fields in (
        ("OrderCreated", [("order_id", 9), ("amount", 1)]),
        ("PaymentCompleted", [("order_id", 9), ("amount", 1)]),
    ):
        message = proto.message_type.add(name=name)
        for number, (field_name, type_) in enumerate(fields, start=1):
            message.field.add(name=field_name, number=number, type=type_, label=1)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    classes = [
        message_factory.GetMessageClass(pool.FindMessageTypeByName(f"seed.{n}"))
        for n in ("OrderCreated", "PaymentCompleted")
    ]
    return classes[0], classes[1]


@scenario("000_05_order_created", "000_06_order_created", "001_39_order_created", "001_40_order_created")
async def protobuf_modes(run: Run) -> None:
    order_created, payment_completed = _protobuf_messages()
    broker = Broker()
    binary = "SerializeToString" in run.text
    reply = payment_completed(order_id="123", amount=99.99)
    reply_data: Any = reply.SerializeToString() if binary else {"orderId": "123", "amount": 99.99}

    async with serve(broker, lifespan="off") as broker_url:
        app = harness_app(run, broker_url=broker_url)

        async def harness_proto(ctx: WorkflowContext) -> Any:
            names = {
                **edda_names("send_event", "wait_event"),
                "OrderCreated": order_created,
                "PaymentCompleted": payment_completed,
            }
            if "wait_event(ctx" not in run.text:  # the docs page's variant receives `event` from the caller
                names["event"] = await edda.wait_event(ctx, "payment.completed")
            ns = await execute_in(run, {"ctx": ctx, **names})
            return {"order_id": ns["payment"].order_id, "amount": ns["payment"].amount}

        wf = edda.workflow(harness_proto)
        async with running(app), serve(app) as url:
            iid = await wf.start()
            if "wait_event(ctx" in run.text:  # sends first, then waits for the reply
                sent = await broker.wait_for("order.created")
            await _waiting(app, iid)
            response = await post_cloudevent(url + "/", "payment.completed", "payments", reply_data, binary=binary)
            assert response.status_code == 202, response.text
            output = await result_of(app, iid)
            sent = await broker.wait_for("order.created")
    data = sent.get_data()
    if binary:
        assert isinstance(data, bytes) and order_created.FromString(data).order_id == "123", data
    else:
        assert data == {"orderId": "123", "amount": 99.99}, data
    assert output == {"order_id": "123", "amount": 99.99}, output
    mode = "binary" if binary else "JSON"
    run.ok(f"{mode} mode: the broker got OrderCreated, the workflow parsed PaymentCompleted {output}")
