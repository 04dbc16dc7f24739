"""A POST that is not a CloudEvent gets the seed's HTTP binding answer: 400, a JSON body with ``error_type`` and
``retryable: false`` (never 415, which the seed does not list), and nothing is stored."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from edda import EddaApp
from edda_asgi import create_asgi_app


@pytest.fixture
async def url(kit: Any, edda_app: EddaApp) -> AsyncIterator[str]:
    async with kit.serve(create_asgi_app(edda_app)) as base:
        yield base


NOT_EVENTS = [
    pytest.param({"content-type": "application/json"}, json.dumps({"order_id": "O-1"}).encode(), id="plain-json"),
    pytest.param(
        {"content-type": "application/json"},
        json.dumps({"specversion": "1.0", "type": "t", "source": "s", "id": "1"}).encode(),
        id="event-shaped-json-without-ce-headers",
    ),
    pytest.param({"content-type": "text/plain"}, b"hello", id="text"),
    pytest.param({"content-type": "application/x-www-form-urlencoded"}, b"a=1&b=2", id="form"),
    pytest.param({"content-type": "multipart/form-data; boundary=x"}, b"--x--", id="multipart"),
    pytest.param({}, b"", id="empty-no-headers"),
    pytest.param({"content-type": "application/json"}, b"", id="empty-json"),
    pytest.param({"content-type": "application/cloudevents+json"}, b"", id="empty-structured"),
    pytest.param({}, b"\x00\x9f\xffgarbage", id="garbage-no-headers"),
    pytest.param({"content-type": "application/cloudevents+json"}, b"\x00\x9f\xffgarbage", id="garbage-structured"),
    pytest.param({"content-type": "application/cloudevents-batch+json"}, b"[]", id="batch"),
    pytest.param({"content-type": "application/octet-stream"}, b"\x01\x02", id="octet-stream"),
]


@pytest.mark.parametrize(("headers", "body"), NOT_EVENTS)
async def test_a_request_that_is_not_a_cloudevent_is_400(
    url: str, client: httpx.AsyncClient, storage: Any, headers: dict[str, str], body: bytes
) -> None:
    response = await client.post(url + "/some/path", content=body, headers=headers)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/json"
    problem = response.json()
    assert problem["retryable"] is False
    assert isinstance(problem["error_type"], str) and problem["error_type"]
    assert isinstance(problem["error"], str) and problem["error"]
    assert storage.published == 0


async def test_the_message_says_how_to_send_a_cloudevent(url: str, client: httpx.AsyncClient) -> None:
    problem = (await client.post(url, json={"order_id": "O-1"})).json()
    assert problem["error_type"] == "NotACloudEvent"
    assert "application/cloudevents+json" in problem["error"] and "ce-*" in problem["error"]


async def test_a_real_cloudevent_on_the_same_server_is_still_202(
    kit: Any, url: str, client: httpx.AsyncClient, storage: Any
) -> None:
    assert (await client.post(url, json={"not": "an event"})).status_code == 400
    response = await kit.post(client, url, kit.binary(kit.event("fine", {"ok": True})))
    assert response.status_code == 202
    assert storage.published == 1
