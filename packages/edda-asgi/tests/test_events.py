"""CloudEvents over a real uvicorn server: both content modes, targeting, handlers, 202 semantics."""

from __future__ import annotations

import json
from typing import Any

import httpx

from edda import EddaApp, ReceivedEvent, WorkflowContext, wait_event, workflow
from edda_asgi import create_asgi_app


@workflow
async def awaits_order_paid(ctx: WorkflowContext, order_id: str) -> dict[str, Any]:
    event: ReceivedEvent = await wait_event(ctx, "order.paid")
    return {
        "order_id": order_id,
        "data": event.data,
        "type": event.type,
        "source": event.source,
        "id": event.id,
        "subject": event.subject,
        "datacontenttype": event.datacontenttype,
        "extensions": event.extensions,
    }


@workflow
async def awaits_blob(ctx: WorkflowContext) -> dict[str, Any]:
    event = await wait_event(ctx, "blob.ready")
    return {"is_bytes": isinstance(event.data, bytes), "hex": bytes(event.data).hex()}


async def test_structured_event_reaches_the_waiting_workflow(
    kit: Any, edda_app: EddaApp, client: httpx.AsyncClient
) -> None:
    async with kit.serve(create_asgi_app(edda_app)) as url:
        iid = await awaits_order_paid.start(order_id="ORD-1")
        await kit.wait_status(edda_app, iid)
        event = kit.event("order.paid", {"amount": 12.5}, id="evt-1", subject="ORD-1", traceid="abc")
        response = await kit.post(client, url + "/any/path", kit.structured(event))
        assert response.status_code == 202
        assert response.json() == {"status": "accepted", "event_id": "evt-1"}
        result = await edda_app.wait_for_result(iid, timeout=5)
    assert result["data"] == {"amount": 12.5}
    assert (result["type"], result["source"], result["id"], result["subject"]) == (
        "order.paid",
        "/tests",
        "evt-1",
        "ORD-1",
    )
    assert result["extensions"] == {"traceid": "abc"}


async def test_binary_event_with_json_data_reaches_the_waiting_workflow(
    kit: Any, edda_app: EddaApp, client: httpx.AsyncClient
) -> None:
    async with kit.serve(create_asgi_app(edda_app)) as url:
        iid = await awaits_order_paid.start(order_id="ORD-2")
        await kit.wait_status(edda_app, iid)
        event = kit.event("order.paid", {"amount": 3}, datacontenttype="application/json", region="eu west")
        message = kit.binary(event)
        assert "ce-type" in message.headers  # really binary mode
        response = await kit.post(client, url + "/", message)
        assert response.status_code == 202, response.text
        result = await edda_app.wait_for_result(iid, timeout=5)
    assert result["data"] == {"amount": 3}
    assert result["datacontenttype"] == "application/json"
    assert result["extensions"] == {"region": "eu west"}  # percent-encoded in the header, decoded by the SDK


async def test_binary_event_with_bytes_stays_bytes(kit: Any, edda_app: EddaApp, client: httpx.AsyncClient) -> None:
    payload = bytes(range(256))  # not UTF-8: must arrive byte for byte
    async with kit.serve(create_asgi_app(edda_app)) as url:
        iid = await awaits_blob.start()
        await kit.wait_status(edda_app, iid)
        event = kit.event("blob.ready", payload, datacontenttype="application/octet-stream")
        response = await kit.post(client, url, kit.binary(event))
        assert response.status_code == 202, response.text
        assert await edda_app.wait_for_result(iid, timeout=5) == {"is_bytes": True, "hex": payload.hex()}


async def test_utf8_octet_stream_is_still_bytes(kit: Any, edda_app: EddaApp, client: httpx.AsyncClient) -> None:
    async with kit.serve(create_asgi_app(edda_app)) as url:
        iid = await awaits_blob.start()
        await kit.wait_status(edda_app, iid)
        event = kit.event("blob.ready", b"plain ascii", datacontenttype="application/octet-stream")
        assert (await kit.post(client, url, kit.binary(event))).status_code == 202
        assert await edda_app.wait_for_result(iid, timeout=5) == {"is_bytes": True, "hex": b"plain ascii".hex()}


async def test_structured_event_with_data_base64(kit: Any, edda_app: EddaApp, client: httpx.AsyncClient) -> None:
    async with kit.serve(create_asgi_app(edda_app)) as url:
        iid = await awaits_blob.start()
        await kit.wait_status(edda_app, iid)
        event = kit.event("blob.ready", b"\x00\xff", datacontenttype="application/octet-stream")
        message = kit.structured(event)
        assert b"data_base64" in message.body
        assert (await kit.post(client, url, message)).status_code == 202
        assert await edda_app.wait_for_result(iid, timeout=5) == {"is_bytes": True, "hex": "00ff"}


async def test_eddainstanceid_delivers_to_that_instance_only(
    kit: Any, edda_app: EddaApp, client: httpx.AsyncClient
) -> None:
    async with kit.serve(create_asgi_app(edda_app)) as url:
        first = await awaits_order_paid.start(order_id="A")
        second = await awaits_order_paid.start(order_id="B")
        await kit.wait_status(edda_app, first)
        await kit.wait_status(edda_app, second)
        event = kit.event("order.paid", {"for": "B"}, eddainstanceid=second)
        assert (await kit.post(client, url, kit.binary(event))).status_code == 202
        result = await edda_app.wait_for_result(second, timeout=5)
        assert result["data"] == {"for": "B"} and result["extensions"] == {"eddainstanceid": second}
        assert await kit.status_of(edda_app, first) == "waiting_for_event"
        # An untargeted event wakes every waiter of the type: here the one still waiting.
        assert (await kit.post(client, url, kit.structured(kit.event("order.paid", {"for": "all"})))).status_code == 202
        assert (await edda_app.wait_for_result(first, timeout=5))["data"] == {"for": "all"}


async def test_event_handler_workflows_and_on_event_handlers_run(
    kit: Any, edda_app: EddaApp, client: httpx.AsyncClient
) -> None:
    seen: list[Any] = []

    @workflow(event_handler=True)
    async def invoice_requested(ctx: WorkflowContext, invoice: str) -> str:
        return invoice.upper()

    @edda_app.on_event("invoice_requested")
    async def record(event: Any) -> None:
        seen.append(event.get_data())

    async with kit.serve(create_asgi_app(edda_app)) as url:
        response = await kit.post(client, url, kit.structured(kit.event("invoice_requested", {"invoice": "inv-7"})))
        assert response.status_code == 202

        async def started() -> bool:
            found = await edda_app.find_instances(workflow_name="invoice_requested", status="completed")
            return bool(found["instances"])

        await kit.wait_until(started)
        await kit.wait_until(lambda: seen)
    assert seen == [{"invoice": "inv-7"}]


async def test_event_with_no_receiver_is_accepted(kit: Any, edda_app: EddaApp, client: httpx.AsyncClient) -> None:
    async with kit.serve(create_asgi_app(edda_app)) as url:
        response = await kit.post(client, url, kit.structured(kit.event("nobody.listens", {"x": 1})))
    assert response.status_code == 202


async def test_structured_mode_ignores_stray_ce_headers(kit: Any, edda_app: EddaApp, client: httpx.AsyncClient) -> None:
    async with kit.serve(create_asgi_app(edda_app)) as url:
        iid = await awaits_order_paid.start(order_id="S")
        await kit.wait_status(edda_app, iid)
        message = kit.structured(kit.event("order.paid", {"n": 1}, id="body-id"))
        headers = {**message.headers, "ce-id": "header-id", "ce-type": "other.type"}
        response = await client.post(url, headers=headers, content=message.body)
        assert response.json()["event_id"] == "body-id"
        assert (await edda_app.wait_for_result(iid, timeout=5))["id"] == "body-id"


async def test_the_edda_app_itself_is_the_asgi_app(kit: Any, edda_app: EddaApp, client: httpx.AsyncClient) -> None:
    """The seeds serve the EddaApp directly (``uvicorn demo_app:application``)."""
    async with kit.serve(edda_app) as url:
        iid = await awaits_order_paid.start(order_id="direct")
        await kit.wait_status(edda_app, iid)
        assert (await kit.post(client, url, kit.structured(kit.event("order.paid", {})))).status_code == 202
        assert (await edda_app.wait_for_result(iid, timeout=5))["order_id"] == "direct"


async def test_event_time_and_dataschema_are_kept(kit: Any, edda_app: EddaApp, client: httpx.AsyncClient) -> None:
    body = {
        "specversion": "1.0",
        "type": "order.paid",
        "source": "urn:x",
        "id": "t-1",
        "time": "2024-05-01T12:00:00Z",
        "dataschema": "https://example.com/schema",
        "data": [1, 2, 3],
    }
    async with kit.serve(create_asgi_app(edda_app)) as url:
        iid = await awaits_order_paid.start(order_id="T")
        await kit.wait_status(edda_app, iid)
        response = await client.post(
            url, content=json.dumps(body), headers={"content-type": "application/cloudevents+json; charset=utf-8"}
        )
        assert response.status_code == 202, response.text
        assert (await edda_app.wait_for_result(iid, timeout=5))["data"] == [1, 2, 3]
    history = await edda_app.storage.get_history(iid)
    received = next(h for h in history if h.event_type == "MessageReceived")
    assert received.event_data["metadata"]["time"].startswith("2024-05-01T12:00:00")
    assert received.event_data["metadata"]["dataschema"] == "https://example.com/schema"
