"""send_event: a recorded step in workflow code, a plain publish outside an app (to a real HTTP receiver)."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from edda import EddaApp, WorkflowContext, send_event, sleep, workflow
from edda.storage.memory import InMemoryStorage


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        self.server.received.append(({k.lower(): v for k, v in self.headers.items()}, body))  # type: ignore[attr-defined]
        self.send_response(202)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def broker() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/events", server.received  # type: ignore[attr-defined]
    server.shutdown()
    server.server_close()


async def test_in_workflow_code_it_is_sent_once_and_its_id_is_stable_across_replays() -> None:
    requests: list[dict[str, Any]] = []
    returned: list[str] = []

    @workflow
    async def requests_payment(ctx: WorkflowContext, order_id: str) -> str:
        event_id = await send_event("sent.payment.requested", "orders", {"order_id": order_id})
        returned.append(event_id)
        await sleep(ctx, 0.05)  # ends this run; the next run replays the send
        return event_id

    async with EddaApp(service_name="t", storage=InMemoryStorage()) as app:

        @app.on_event("sent.payment.requested")
        async def payment_service(event: Any) -> None:
            requests.append({"id": event["id"], "data": event.data})

        iid = await requests_payment.start(order_id="o-1")
        result = await app.wait_for_result(iid, timeout=5)
        history = await app.storage.get_history(iid)
    expected = str(uuid.uuid5(uuid.UUID("8a3c4e4e-6f1d-5d2b-9f57-3c2b7e0e5d11"), f"{iid}/0/send_event:1"))
    assert requests == [{"id": expected, "data": {"order_id": "o-1"}}]  # sent once, not again on replay
    assert returned == [expected, expected] and result == expected
    sent = [e for e in history if e.event_type == "EventSent"]
    assert [(e.activity_id, e.event_data["event_id"]) for e in sent] == [("send_event:1", expected)]


async def test_outside_an_app_it_posts_json_in_structured_mode(broker: Any) -> None:
    url, received = broker
    event_id = await send_event("plain.created", "svc", {"n": 1}, broker_url=url)
    await asyncio.sleep(0)
    [(headers, body)] = received
    assert headers["content-type"] == "application/cloudevents+json"
    event = json.loads(body)
    assert (event["type"], event["source"], event["id"], event["data"]) == ("plain.created", "svc", event_id, {"n": 1})
    assert event["specversion"] == "1.0" and event["time"]


async def test_outside_an_app_bytes_go_in_binary_mode(broker: Any) -> None:
    http = pytest.importorskip("cloudevents.core.bindings.http", reason="the cloudevents SDK checks the binary mode")

    url, received = broker
    event_id = await send_event("plain.bytes", "svc", b"\x00\x01proto", broker_url=url)
    [(headers, body)] = received
    assert headers["content-type"] == "application/octet-stream" and headers["ce-id"] == event_id
    event = http.from_binary_event(http.HTTPMessage(headers=headers, body=body))
    assert (event.get_type(), event.get_source(), event.get_id()) == ("plain.bytes", "svc", event_id)
    assert body == b"\x00\x01proto"  # the bytes themselves are the body: no JSON, no base64
