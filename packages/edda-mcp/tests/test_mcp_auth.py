"""Bearer tokens: with a token verifier, every route that reaches Edda refuses a request without a token or with a
wrong one (401); the right token works. (edda-framework 0.16.2 let requests without an Authorization header through.)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from cloudevents.core.bindings.http import to_structured_event
from cloudevents.core.v1.event import CloudEvent
from edda_mcp_testkit import TOKEN, HttpServer, http_server, http_session, instance_id_in, make_files, status_until

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}},
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpServer]:
    with http_server(make_files(tmp_path_factory.mktemp("mcp-auth")), token=TOKEN) as running:
        yield running


async def _initialize(server: HttpServer, authorization: str | None) -> httpx2.Response:
    headers = dict(MCP_HEADERS)
    if authorization is not None:
        headers["Authorization"] = authorization
    async with httpx2.AsyncClient() as client:
        return await client.post(server.mcp_url, headers=headers, json=INITIALIZE)


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token", f"Bearer {TOKEN}x", f"Basic {TOKEN}", "Bearer"],
    ids=["no-header", "wrong-token", "longer-token", "not-bearer", "no-token"],
)
async def test_mcp_endpoint_refuses_requests_without_the_right_token(server: HttpServer, authorization: str) -> None:
    response = await _initialize(server, authorization)
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer ")
    assert response.json()["error"] == "invalid_token"


async def test_mcp_endpoint_accepts_the_right_token(server: HttpServer) -> None:
    response = await _initialize(server, f"Bearer {TOKEN}")
    assert response.status_code == 200, response.text
    assert response.json()["result"]["serverInfo"]["name"] == "Test Orders"


@pytest.mark.parametrize("token", [None, "wrong-token"], ids=["no-token", "wrong-token"])
async def test_the_sdk_client_is_refused_without_the_right_token(server: HttpServer, token: str | None) -> None:
    statuses: list[int] = []
    with pytest.raises(Exception):  # noqa: B017 - the SDK reports a failed HTTP request as a generic MCPError
        async with http_session(server.mcp_url, token=token, statuses=statuses) as session:
            await session.list_tools()
    assert statuses == [401], statuses  # refused at the first request (initialize), for want of the right token


async def test_the_sdk_client_works_with_the_right_token(server: HttpServer) -> None:
    async with http_session(server.mcp_url, token=TOKEN) as session:
        names = {tool.name for tool in (await session.list_tools()).tools}
        started = await session.call_tool("pipeline", {"job": "auth-ok"})
    assert {"pipeline", "pipeline_status", "pipeline_result", "pipeline_cancel"} <= names
    assert not started.is_error and instance_id_in(started)


async def _waiting_trip(server: HttpServer, hotel: str) -> str:
    async with http_session(server.mcp_url, token=TOKEN) as session:
        instance_id = instance_id_in(await session.call_tool("book_trip", {"hotel": hotel}))
        await status_until(session, "book_trip_status", instance_id, "waiting_for_event")
    return instance_id


async def _status(server: HttpServer, instance_id: str) -> Any:
    async with http_session(server.mcp_url, token=TOKEN) as session:
        result = await session.call_tool("book_trip_status", {"instance_id": instance_id})
    assert result.structured_content is not None
    return result.structured_content["status"]


async def test_cancel_endpoint_needs_the_token(server: HttpServer) -> None:
    instance_id = await _waiting_trip(server, "Guarded Cancel Inn")
    async with httpx2.AsyncClient() as client:
        anonymous = await client.post(f"{server.base_url}/cancel/{instance_id}")
        wrong = await client.post(f"{server.base_url}/cancel/{instance_id}", headers={"Authorization": "Bearer no"})
        assert anonymous.status_code == 401 and wrong.status_code == 401, (anonymous.text, wrong.text)
        assert await _status(server, instance_id) == "waiting_for_event"  # nothing happened
        allowed = await client.post(
            f"{server.base_url}/cancel/{instance_id}", headers={"Authorization": f"Bearer {TOKEN}"}
        )
    assert allowed.status_code == 202, allowed.text
    assert await _status(server, instance_id) == "cancelled"


async def test_cloudevents_need_the_token(server: HttpServer) -> None:
    instance_id = await _waiting_trip(server, "Guarded Event Lodge")
    event = CloudEvent(
        {"type": "trip.approved", "source": "tests", "id": f"approve-{instance_id}", "eddainstanceid": instance_id},
        {"by": "Lee"},
    )
    message = to_structured_event(event)
    async with httpx2.AsyncClient() as client:
        anonymous = await client.post(server.base_url + "/", headers=dict(message.headers), content=message.body)
        assert anonymous.status_code == 401, anonymous.text
        assert await _status(server, instance_id) == "waiting_for_event"
        allowed = await client.post(
            server.base_url + "/",
            headers={**dict(message.headers), "Authorization": f"Bearer {TOKEN}"},
            content=message.body,
        )
    assert allowed.status_code == 202, allowed.text
    async with http_session(server.mcp_url, token=TOKEN) as session:
        await status_until(session, "book_trip_status", instance_id, "completed")
