"""Durable tools over streamable HTTP: the MCP SDK's client against the test server under uvicorn on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from cloudevents.core.bindings.http import to_structured_event
from cloudevents.core.v1.event import CloudEvent
from edda_mcp_testkit import (
    HttpServer,
    http_server,
    http_session,
    instance_id_in,
    make_files,
    status_until,
    text_of,
    wait_for,
)
from edda_mcp_testmodels import Address, Customer, OrderLine
from mcp import Client

from edda.storage.records import HistoryEventType
from edda_storage_sql import SQLAlchemyStorage

ORDER = {
    "customer": {"name": "Ann", "address": {"street": "1 Main St", "city": "Oslo"}},
    "lines": [{"sku": "A", "quantity": 2}],
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpServer]:
    with http_server(make_files(tmp_path_factory.mktemp("mcp-http"))) as running:
        yield running


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    return schema["$defs"][ref.rsplit("/", 1)[1]] if ref else node


async def test_each_durable_tool_is_four_tools_with_schemas_from_its_type_hints(server: HttpServer) -> None:
    async with http_session(server.mcp_url) as session:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
    for name in ("place_order", "book_trip", "pipeline"):
        assert {name, f"{name}_status", f"{name}_result", f"{name}_cancel"} <= set(tools), sorted(tools)
    assert len(tools) == 12, sorted(tools)
    schema = tools["place_order"].input_schema
    assert schema["required"] == ["customer", "lines"]
    assert "ctx" not in schema["properties"]
    assert schema["properties"]["express"]["default"] is False
    # The nested pydantic models appear in the schema as the models themselves describe them.
    customer = _resolve(schema, schema["properties"]["customer"])
    assert customer["properties"]["name"] == Customer.model_json_schema()["properties"]["name"]
    address = _resolve(schema, customer["properties"]["address"])
    assert address["properties"] == Address.model_json_schema()["properties"]
    line = _resolve(schema, schema["properties"]["lines"]["items"])
    assert line["properties"] == OrderLine.model_json_schema()["properties"]
    assert schema["properties"]["lines"]["type"] == "array"
    for suffix in ("_status", "_result", "_cancel"):
        status_schema = tools["place_order" + suffix].input_schema
        assert status_schema["required"] == ["instance_id"]
        assert status_schema["properties"]["instance_id"]["type"] == "string"
    assert tools["place_order"].description is not None and "Place an order" in tools["place_order"].description
    assert "Three steps" in (tools["pipeline"].description or "")  # the docstring when no description is given


async def test_start_poll_status_and_get_the_result(server: HttpServer) -> None:
    async with http_session(server.mcp_url) as session:
        started = await session.call_tool("place_order", ORDER)
        assert not started.is_error, text_of(started)
        instance_id = instance_id_in(started)
        assert "place_order_status" in text_of(started) and "place_order_result" in text_of(started)
        status = await status_until(session, "place_order_status", instance_id, "completed")
        text = text_of(status)
        for field in ("Workflow Status: completed", "Current Activity: charge:1", "Completed Activities: 1"):
            assert field in text, text
        assert f"Instance ID: {instance_id}" in text
        assert "Suggested Poll Interval: 10000ms" in text
        result = await session.call_tool("place_order_result", {"instance_id": instance_id})
    assert not result.is_error, text_of(result)
    assert text_of(result).startswith("Workflow Result:\n")
    value = json.loads(text_of(result).split("\n", 1)[1])
    assert result.structured_content is not None and result.structured_content["result"] == value
    # The workflow received model instances, built from the JSON arguments by the SDK.
    assert value["customer_type"] == "Customer" and value["address_type"] == "Address"
    assert value["line_types"] == ["OrderLine"]
    assert value["city"] == "Oslo" and value["quantities"] == [2] and value["charged"] == 2
    assert "charge Ann 2" in server.files.effects_lines()


async def test_arguments_are_validated_and_coerced_by_the_schema(server: HttpServer) -> None:
    async with http_session(server.mcp_url) as session:
        coerced = await session.call_tool(
            "place_order", {**ORDER, "lines": [{"sku": "B", "quantity": "3"}], "express": "true"}
        )
        instance_id = instance_id_in(coerced)
        await status_until(session, "place_order_status", instance_id, "completed")
        value = (await session.call_tool("place_order_result", {"instance_id": instance_id})).structured_content
        assert value is not None and value["result"]["quantities"] == [3] and value["result"]["express"] is True
        refused = await session.call_tool("place_order", {**ORDER, "lines": [{"sku": "C", "quantity": 0}]})
        missing = await session.call_tool("place_order", {"lines": ORDER["lines"]})
    assert refused.is_error and "quantity" in text_of(refused), text_of(refused)
    assert missing.is_error and "customer" in text_of(missing), text_of(missing)


async def test_result_of_an_unfinished_or_unknown_instance_is_an_error(server: HttpServer) -> None:
    async with http_session(server.mcp_url) as session:
        waiting = instance_id_in(await session.call_tool("book_trip", {"hotel": "Unfinished Inn"}))
        await status_until(session, "book_trip_status", waiting, "waiting_for_event")
        early = await session.call_tool("book_trip_result", {"instance_id": waiting})
        unknown = await session.call_tool("book_trip_status", {"instance_id": "no-such-instance"})
        other = await session.call_tool("place_order_status", {"instance_id": waiting})
        await session.call_tool("book_trip_cancel", {"instance_id": waiting})
    assert early.is_error and "not completed yet (status: waiting_for_event)" in text_of(early), text_of(early)
    assert unknown.is_error and "No workflow instance 'no-such-instance'" in text_of(unknown)
    assert other.is_error and "belongs to workflow 'book_trip'" in text_of(other), text_of(other)


async def _history(server: HttpServer, instance_id: str) -> list[Any]:
    storage = SQLAlchemyStorage.from_url(server.files.db_url)
    await storage.initialize()
    try:
        return await storage.get_history(instance_id)
    finally:
        await storage.close()


async def test_cancel_a_waiting_workflow_runs_its_compensation(server: HttpServer) -> None:
    async with http_session(server.mcp_url) as session:
        instance_id = instance_id_in(await session.call_tool("book_trip", {"hotel": "Grand Hotel"}))
        waiting = await status_until(session, "book_trip_status", instance_id, "waiting_for_event")
        assert "waiting for event 'trip.approved'" in text_of(waiting), text_of(waiting)
        assert "release Grand Hotel" not in server.files.effects_lines()
        cancelled = await session.call_tool("book_trip_cancel", {"instance_id": instance_id})
        assert not cancelled.is_error, text_of(cancelled)
        assert "Compensations executed: 1 (release_room)" in text_of(cancelled), text_of(cancelled)
        status = await session.call_tool("book_trip_status", {"instance_id": instance_id})
        again = await session.call_tool("book_trip_cancel", {"instance_id": instance_id})
        result = await session.call_tool("book_trip_result", {"instance_id": instance_id})
    assert status.structured_content is not None and status.structured_content["status"] == "cancelled"
    assert "Workflow Status: cancelled" in text_of(status)
    assert again.is_error and "already finished with status 'cancelled'" in text_of(again), text_of(again)
    assert result.is_error and "cancelled" in text_of(result)
    assert server.files.effects_lines().count("release Grand Hotel") == 1
    history = await _history(server, instance_id)
    executed = [e for e in history if e.event_type == HistoryEventType.COMPENSATION_EXECUTED]
    assert [e.event_data["compensation_name"] for e in executed] == ["release_room"]


async def test_prompt_reads_the_instance_state(server: HttpServer) -> None:
    async with http_session(server.mcp_url) as session:
        instance_id = instance_id_in(await session.call_tool("place_order", ORDER))
        await status_until(session, "place_order_status", instance_id, "completed")
        prompts = {prompt.name: prompt for prompt in (await session.list_prompts()).prompts}
        prompt = await session.get_prompt("instance_report", {"instance_id": instance_id})
    assert [a.name for a in prompts["instance_report"].arguments or []] == ["instance_id"]
    text = prompt.messages[0].content.text  # type: ignore[union-attr]
    assert f"({instance_id})" in text and "Status: completed" in text
    assert 'History: ["ActivityCompleted:charge:1"]' in text
    assert '"city": "Oslo"' in text


def _cloudevent(event_type: str, data: dict[str, Any], instance_id: str) -> tuple[dict[str, str], bytes]:
    event = CloudEvent(
        {"type": event_type, "source": "tests", "id": f"evt-{instance_id}", "eddainstanceid": instance_id}, data
    )
    message = to_structured_event(event)
    return dict(message.headers), message.body


async def test_the_same_app_receives_cloudevents_at_the_root(server: HttpServer) -> None:
    async with http_session(server.mcp_url) as session:
        instance_id = instance_id_in(await session.call_tool("book_trip", {"hotel": "Event Lodge"}))
        await status_until(session, "book_trip_status", instance_id, "waiting_for_event")
        headers, body = _cloudevent("trip.approved", {"by": "Kim"}, instance_id)
        async with httpx2.AsyncClient() as client:
            response = await client.post(server.base_url + "/", headers=headers, content=body)
        assert response.status_code == 202, response.text
        await status_until(session, "book_trip_status", instance_id, "completed")
        result = await session.call_tool("book_trip_result", {"instance_id": instance_id})
    assert result.structured_content is not None
    assert result.structured_content["result"] == {"hotel": "Event Lodge", "approved_by": "Kim"}


async def test_post_cancel_instance_id_cancels(server: HttpServer) -> None:
    async with http_session(server.mcp_url) as session:
        instance_id = instance_id_in(await session.call_tool("book_trip", {"hotel": "Cancel Court"}))
        await status_until(session, "book_trip_status", instance_id, "waiting_for_event")
        async with httpx2.AsyncClient() as client:
            response = await client.post(f"{server.base_url}/cancel/{instance_id}")
            unknown = await client.post(f"{server.base_url}/cancel/no-such-instance")
        assert response.status_code == 202, response.text
        await status_until(session, "book_trip_status", instance_id, "cancelled")
    assert unknown.status_code == 404, unknown.text
    await wait_for(lambda: "release Cancel Court" in server.files.effects_lines(), "the compensation")


async def test_the_sdks_high_level_client_on_the_2026_protocol(server: HttpServer) -> None:
    # mcp.Client probes server/discover and speaks the per-request 2026-07-28 protocol (no handshake, no tasks).
    async with Client(server.mcp_url) as client:
        assert client.session.protocol_version == "2026-07-28"
        names = [tool.name for tool in (await client.list_tools()).tools]
        instance_id = instance_id_in(await client.call_tool("place_order", ORDER))
        status = await wait_for(
            lambda: _finished_status(client, instance_id), f"{instance_id} to complete over the 2026 protocol"
        )
        result = await client.call_tool("place_order_result", {"instance_id": instance_id})
    assert names[:4] == ["place_order", "place_order_status", "place_order_result", "place_order_cancel"]
    assert "Workflow Status: completed" in text_of(status)
    assert result.structured_content is not None and result.structured_content["result"]["city"] == "Oslo"


async def _finished_status(client: Client, instance_id: str) -> Any:
    status = await client.call_tool("place_order_status", {"instance_id": instance_id})
    return status if status.structured_content and status.structured_content["finished"] else None
