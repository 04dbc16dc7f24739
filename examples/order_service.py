"""An order service: receives CloudEvents over HTTP (edda-asgi) and publishes its own through the outbox
(edda-outbox).

    uv run python examples/order_service.py --port 8000 --broker http://localhost:9000/
    uv run python examples/order_service.py --selftest

The flow, per order:

1. ``order.created`` arrives over HTTP (any path); the handler starts ``order_workflow`` with the order id as its
   instance id (so a redelivered ``order.created`` does not start a second one).
2. The ``reserve_stock`` activity reserves stock and writes ``order.reserved`` to the outbox in the same transaction;
   the relayer publishes it to the broker.
3. The workflow waits (durably, holding no worker) for ``payment.completed`` addressed to it with the
   ``eddainstanceid`` extension; without payment in time it releases the stock (``order.cancelled``).
4. ``confirm_order`` publishes ``order.confirmed``.

``--selftest`` starts the service on a free port with a small receiver standing in for the broker, sends the two
events, checks what arrives, and exits 0 on success.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any

import uvicorn

from edda import EddaApp, EventTimeoutError, WorkflowContext, activity, send_event_transactional, wait_event, workflow
from edda_asgi import create_asgi_app

SOURCE = "order-service"


@activity
async def reserve_stock(ctx: WorkflowContext, order_id: str, items: list[str]) -> dict[str, Any]:
    reservation = {"order_id": order_id, "items": items, "reservation_id": f"RES-{order_id}"}
    await send_event_transactional(ctx, "order.reserved", SOURCE, reservation)
    return reservation


@activity
async def confirm_order(ctx: WorkflowContext, order_id: str, amount: float) -> dict[str, Any]:
    confirmation = {"order_id": order_id, "amount": amount, "status": "confirmed"}
    await send_event_transactional(ctx, "order.confirmed", SOURCE, confirmation)
    return confirmation


@activity
async def release_stock(ctx: WorkflowContext, order_id: str, reason: str) -> dict[str, Any]:
    cancellation = {"order_id": order_id, "status": "cancelled", "reason": reason}
    await send_event_transactional(ctx, "order.cancelled", SOURCE, cancellation)
    return cancellation


@workflow
async def order_workflow(ctx: WorkflowContext, order_id: str, items: list[str], payment_timeout: float) -> dict:
    await reserve_stock(ctx, order_id, items)
    try:
        payment = await wait_event(ctx, "payment.completed", timeout_seconds=payment_timeout)
    except EventTimeoutError:
        return await release_stock(ctx, order_id, "no payment in time")
    return await confirm_order(ctx, order_id, payment.data["amount"])


def build(db_url: str, broker_url: str, *, payment_timeout: float = 3600.0) -> tuple[EddaApp, Any]:
    """The EddaApp (outbox on) and its HTTP app."""
    app = EddaApp(service_name=SOURCE, db_url=db_url, outbox_enabled=True, broker_url=broker_url)

    @app.on_event("order.created")
    async def start_order(event: Any) -> None:
        data = event.get_data()
        await order_workflow.start(
            order_id=data["order_id"],
            items=data.get("items", []),
            payment_timeout=payment_timeout,
            instance_id=data["order_id"],
        )

    return app, create_asgi_app(app)


def bound_socket(port: int = 0) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    return sock


async def start_server(app: Any, sock: socket.socket) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            raise RuntimeError("the server did not start")
        await asyncio.sleep(0.01)
    return server, task


# -- self test -----------------------------------------------------------------------------------------------------


class Broker:
    """A stand-in for the message broker: records the CloudEvents the outbox publishes."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.arrived = asyncio.Event()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.events.append(json.loads(body))
        self.arrived.set()
        await send({"type": "http.response.start", "status": 202, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def wait_for(self, event_type: str, timeout: float = 10.0) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                for event in self.events:
                    if event["type"] == event_type:
                        return event
                self.arrived.clear()
                await self.arrived.wait()


async def wait_until_waiting(app: EddaApp, instance_id: str) -> None:
    while True:
        record = await app.get_instance(instance_id)
        if record is not None and record.status == "waiting_for_event":
            return
        await asyncio.sleep(0.01)


async def selftest() -> None:
    import httpx
    from cloudevents.core.bindings.http import to_binary, to_structured
    from cloudevents.core.formats.json import JSONFormat
    from cloudevents.core.v1.event import CloudEvent

    broker = Broker()
    broker_sock = bound_socket()
    broker_server, broker_task = await start_server(broker, broker_sock)
    broker_url = f"http://127.0.0.1:{broker_sock.getsockname()[1]}/"

    with tempfile.TemporaryDirectory() as tmp:
        try:
            import edda_storage_sql  # noqa: F401

            db_url = f"sqlite:///{Path(tmp) / 'orders.db'}"
        except ImportError:
            db_url = "memory://"
        app, http_app = build(db_url, broker_url)
        sock = bound_socket()
        server, task = await start_server(http_app, sock)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                created = CloudEvent(
                    {"type": "order.created", "source": "shop"}, {"order_id": "ORD-1", "items": ["book"]}
                )
                message = to_structured(created, JSONFormat())
                response = await client.post(f"{url}/orders", headers=message.headers, content=message.body)
                assert response.status_code == 202, response.text
                reserved = await broker.wait_for("order.reserved")
                assert reserved["data"]["reservation_id"] == "RES-ORD-1", reserved
                print(f"→ order.created accepted; ← order.reserved published (id {reserved['id']})")

                await wait_until_waiting(app, "ORD-1")
                paid = CloudEvent(
                    {"type": "payment.completed", "source": "payments", "eddainstanceid": "ORD-1"}, {"amount": 25.0}
                )
                message = to_binary(paid, JSONFormat())
                response = await client.post(f"{url}/payments", headers=message.headers, content=message.body)
                assert response.status_code == 202, response.text
                confirmed = await broker.wait_for("order.confirmed")
                assert confirmed["data"] == {"order_id": "ORD-1", "amount": 25.0, "status": "confirmed"}, confirmed
                print("→ payment.completed accepted; ← order.confirmed published")
                result = await app.wait_for_result("ORD-1", timeout=10)
                assert result["status"] == "confirmed", result
                assert [e["type"] for e in broker.events] == ["order.reserved", "order.confirmed"], broker.events
        finally:
            server.should_exit = True
            await task
            sock.close()
    broker_server.should_exit = True
    await broker_task
    broker_sock.close()
    print(f"selftest passed ({db_url.split(':', 1)[0]} storage)")


def main() -> None:
    parser = argparse.ArgumentParser(description="An order service: CloudEvents in over HTTP, out through the outbox.")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--db", default="sqlite:///orders.db", help="database URL (default: sqlite:///orders.db)")
    parser.add_argument("--broker", default="http://127.0.0.1:9000/", help="where the outbox publishes events")
    parser.add_argument("--selftest", action="store_true", help="run a round trip on free ports and exit")
    args = parser.parse_args()
    if args.selftest:
        asyncio.run(selftest())
        return
    _, http_app = build(args.db, args.broker)
    print(f"order service on http://127.0.0.1:{args.port} (POST CloudEvents to any path), publishing to {args.broker}")
    uvicorn.run(http_app, host="127.0.0.1", port=args.port, log_level="info")


if __name__ == "__main__":
    sys.exit(main())
