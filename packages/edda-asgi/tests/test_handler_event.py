"""What an ``@app.on_event`` handler receives: the seed's access on a CloudEvent (``event["type"]``, ``event.data``,
``event.get("subject")``, ...) works however the event arrived: over HTTP (ASGI and WSGI, structured and binary, sent
with the official SDK), or handed to ``handle_cloudevent`` as an SDK 2.x object, an SDK v1 object or a mapping."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import httpx
import pytest
from cloudevents.core.v1.event import CloudEvent as SDK2Event
from cloudevents.v1.http import CloudEvent as SDKv1Event

from edda import EddaApp, WorkflowContext, workflow
from edda_asgi import create_asgi_app, create_wsgi_app


def seed_access(event: Any) -> dict[str, Any]:
    """Everything a handler written for 0.16.2 (the SDK's v1 CloudEvent) reads."""
    return {
        "type": event["type"],
        "source": event["source"],
        "id": event["id"],
        "specversion": event["specversion"],
        "data": event.data,
        "get_data": event.get_data(),
        "subject": event.get("subject"),
        "absent": event.get("no-such-attribute"),
        "absent_default": event.get("no-such-attribute", "fallback"),
        "attributes": dict(event.get_attributes()),
        "has_type": "type" in event,
        "has_absent": "no-such-attribute" in event,
        "keys": sorted(event),
    }


def recording(app: EddaApp, event_type: str) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []

    @app.on_event(event_type)
    async def handler(event: Any) -> None:
        seen.append(seed_access(event))

    return seen


async def test_structured_event_over_http(kit: Any, edda_app: EddaApp, client: httpx.AsyncClient) -> None:
    seen = recording(edda_app, "order.created")
    event = kit.event(
        "order.created", {"order_id": "ORD-1", "amount": 12.5}, id="evt-1", subject="ORD-1", traceid="abc"
    )
    async with kit.serve(create_asgi_app(edda_app)) as url:
        response = await kit.post(client, url + "/orders", kit.structured(event))
        assert response.status_code == 202, response.text
        await kit.wait_until(lambda: seen)
    [got] = seen
    assert (got["type"], got["source"], got["id"], got["specversion"]) == ("order.created", "/tests", "evt-1", "1.0")
    assert got["data"] == got["get_data"] == {"order_id": "ORD-1", "amount": 12.5}
    assert got["subject"] == "ORD-1"
    assert got["absent"] is None and got["absent_default"] == "fallback"
    assert got["has_type"] is True and got["has_absent"] is False
    assert got["attributes"]["traceid"] == "abc"  # extensions are attributes, as in the SDK
    assert isinstance(got["attributes"]["time"], str)  # an ISO 8601 string, as the v1 SDK kept it
    assert got["keys"] == sorted(got["attributes"])


async def test_binary_event_over_http(kit: Any, edda_app: EddaApp, client: httpx.AsyncClient) -> None:
    seen = recording(edda_app, "blob.ready")
    event = kit.event("blob.ready", b"\x00\xffraw", id="b-1", datacontenttype="application/octet-stream", region="eu")
    message = kit.binary(event)
    assert "ce-type" in message.headers
    async with kit.serve(create_asgi_app(edda_app)) as url:
        assert (await kit.post(client, url, message)).status_code == 202
        await kit.wait_until(lambda: seen)
    [got] = seen
    assert got["type"] == "blob.ready" and got["id"] == "b-1" and got["subject"] is None
    assert got["data"] == b"\x00\xffraw"
    assert got["attributes"]["region"] == "eu"
    assert got["attributes"]["datacontenttype"] == "application/octet-stream"


async def test_sync_handler_and_the_seed_example(kit: Any, edda_app: EddaApp, client: httpx.AsyncClient) -> None:
    """003's ``on_event`` example starts a workflow from the event; a plain function works too."""

    @workflow
    async def order_from_event(ctx: WorkflowContext, order_id: str) -> str:
        return f"started {order_id}"

    started: list[str] = []
    sources: list[str] = []

    @edda_app.on_event("order.created")
    async def handle_order_created(event: Any) -> None:
        started.append(await order_from_event.start(order_id=event.data["order_id"]))

    @edda_app.on_event("order.created")
    def plain(event: Any) -> None:
        sources.append(event["source"])

    async with kit.serve(create_asgi_app(edda_app)) as url:
        response = await kit.post(client, url, kit.structured(kit.event("order.created", {"order_id": "O-7"})))
        assert response.status_code == 202
        await kit.wait_until(lambda: started and sources)
        assert await edda_app.wait_for_result(started[0], timeout=5) == "started O-7"
    assert sources == ["/tests"]


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(  # the 2.x SDK holds time as a datetime
            lambda attrs, data: SDK2Event({**attrs, "time": datetime(2024, 5, 1, 12, tzinfo=UTC)}, data), id="sdk-2.x"
        ),
        pytest.param(lambda attrs, data: SDKv1Event(attrs, data), id="sdk-v1"),
        pytest.param(lambda attrs, data: {**attrs, "data": data}, id="mapping"),
    ],
)
async def test_every_input_shape_gives_the_same_event(edda_app: EddaApp, make: Any) -> None:
    seen = recording(edda_app, "shape.test")
    attrs = {
        "specversion": "1.0",
        "type": "shape.test",
        "source": "urn:shapes",
        "id": "s-1",
        "subject": "subj",
        "time": "2024-05-01T12:00:00Z",
        "traceid": "t-9",
    }
    async with edda_app:
        await edda_app.handle_cloudevent(make(attrs, {"n": 1}), wait=True)
    [got] = seen
    assert (got["type"], got["source"], got["id"], got["subject"]) == ("shape.test", "urn:shapes", "s-1", "subj")
    assert got["data"] == got["get_data"] == {"n": 1}
    assert got["attributes"]["traceid"] == "t-9"
    assert got["attributes"]["time"].startswith("2024-05-01T12:00:00")


async def test_the_event_is_read_only(edda_app: EddaApp) -> None:
    received: list[Any] = []
    edda_app.on_event("ro.test")(received.append)
    async with edda_app:
        await edda_app.handle_cloudevent({"type": "ro.test", "source": "s", "id": "1", "data": [1]}, wait=True)
    [event] = received
    with pytest.raises(TypeError):
        event["type"] = "other"  # type: ignore[index]
    with pytest.raises(TypeError):
        event.get_attributes()["type"] = "other"  # type: ignore[index]
    with pytest.raises(AttributeError):
        event.data = "replaced"  # type: ignore[misc]
    assert event["type"] == "ro.test" and event.get_type() == "ro.test" and event.get_id() == "1"


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class _ThreadingWSGIServer(WSGIServer):
    daemon_threads = True


@pytest.fixture
def wsgi_url(edda_app: EddaApp) -> Iterator[str]:
    application = create_wsgi_app(edda_app)
    server = make_server("127.0.0.1", 0, application, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        asyncio.run_coroutine_threadsafe(edda_app.shutdown(), application.loop).result(10)


def test_handler_under_wsgi(kit: Any, edda_app: EddaApp, wsgi_url: str) -> None:
    seen: list[dict[str, Any]] = []
    done = threading.Event()

    @edda_app.on_event("wsgi.created")
    def handler(event: Any) -> None:
        seen.append(seed_access(event))
        done.set()

    message = kit.structured(kit.event("wsgi.created", {"via": "wsgi"}, id="w-1", subject="S"))
    with httpx.Client(timeout=10) as client:
        response = client.post(wsgi_url + "/hooks", headers=message.headers, content=message.body)
    assert response.status_code == 202, response.text
    assert done.wait(10)
    [got] = seen
    assert (got["type"], got["id"], got["subject"], got["data"]) == ("wsgi.created", "w-1", "S", {"via": "wsgi"})
    assert got["has_type"] is True
