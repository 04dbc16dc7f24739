"""Refusals: every malformed, oversized, unsupported or unwelcome request gets the right status and stores nothing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from edda import EddaApp
from edda.exceptions import StorageUnavailableError
from edda_asgi import create_asgi_app

VALID = {"specversion": "1.0", "type": "t.x", "source": "/s", "id": "1"}
STRUCTURED = {"content-type": "application/cloudevents+json"}


def assert_problem(response: httpx.Response, status: int, error_type: str, retryable: bool = False) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "error_type", "retryable"}
    assert body["error_type"] == error_type, body
    assert body["retryable"] is retryable
    assert isinstance(body["error"], str) and body["error"]


@pytest.fixture
async def url(kit: Any, edda_app: EddaApp) -> AsyncIterator[str]:
    async with kit.serve(create_asgi_app(edda_app, max_body_bytes=10_000, body_timeout=0.5)) as base:
        yield base


BAD_STRUCTURED = [
    pytest.param(b"{not json", "InvalidJSON", id="malformed-json"),
    pytest.param(b"", "InvalidJSON", id="empty-body"),
    pytest.param(b'["a list"]', "InvalidCloudEvent", id="not-an-object"),
    pytest.param(b'{"type": "t", "source": "s", "id": "\xff\xfe"}', "InvalidEncoding", id="invalid-utf8"),
    pytest.param(b"\xef\xbb\xbf" + json.dumps(VALID).encode(), "InvalidJSON", id="utf8-bom"),
    pytest.param(
        json.dumps({k: v for k, v in VALID.items() if k != "specversion"}).encode(),
        "InvalidCloudEvent",
        id="missing-specversion",
    ),
    pytest.param(json.dumps({**VALID, "specversion": "0.3"}).encode(), "UnsupportedSpecVersion", id="specversion-0.3"),
    pytest.param(json.dumps({**VALID, "specversion": "2.0"}).encode(), "UnsupportedSpecVersion", id="specversion-2.0"),
    pytest.param(json.dumps({**VALID, "specversion": 1.0}).encode(), "UnsupportedSpecVersion", id="specversion-number"),
    pytest.param(
        json.dumps({k: v for k, v in VALID.items() if k != "id"}).encode(), "InvalidCloudEvent", id="missing-id"
    ),
    pytest.param(
        json.dumps({k: v for k, v in VALID.items() if k != "source"}).encode(), "InvalidCloudEvent", id="missing-source"
    ),
    pytest.param(json.dumps({**VALID, "type": ""}).encode(), "InvalidCloudEvent", id="empty-type"),
    pytest.param(json.dumps({**VALID, "type": 5}).encode(), "InvalidCloudEvent", id="type-number"),
    pytest.param(json.dumps({**VALID, "id": None}).encode(), "InvalidCloudEvent", id="id-null"),
    pytest.param(json.dumps({**VALID, "source": ["a"]}).encode(), "InvalidCloudEvent", id="source-list"),
    pytest.param(json.dumps({**VALID, "time": "yesterday"}).encode(), "InvalidCloudEvent", id="time-garbage"),
    pytest.param(json.dumps({**VALID, "time": 17}).encode(), "InvalidCloudEvent", id="time-number"),
    pytest.param(json.dumps({**VALID, "time": "2024-01-01T00:00:00"}).encode(), "InvalidCloudEvent", id="time-naive"),
    pytest.param(json.dumps({**VALID, "subject": ""}).encode(), "InvalidCloudEvent", id="subject-empty"),
    pytest.param(json.dumps({**VALID, "Bad_Ext": "x"}).encode(), "InvalidCloudEvent", id="extension-name"),
    pytest.param(json.dumps({**VALID, "ext": 1.5}).encode(), "InvalidCloudEvent", id="extension-float"),
    pytest.param(json.dumps({**VALID, "ext": {"a": 1}}).encode(), "InvalidCloudEvent", id="extension-object"),
    pytest.param(json.dumps({**VALID, "ext": 2**40}).encode(), "InvalidCloudEvent", id="extension-int64"),
    pytest.param(json.dumps({**VALID, "eddainstanceid": ""}).encode(), "InvalidCloudEvent", id="instance-id-empty"),
    pytest.param(json.dumps({**VALID, "eddainstanceid": 7}).encode(), "InvalidCloudEvent", id="instance-id-number"),
    pytest.param(
        json.dumps({**VALID, "eddainstanceid": "x" * 256}).encode(), "InvalidCloudEvent", id="instance-id-too-long"
    ),
    pytest.param(json.dumps({**VALID, "data_base64": "abc"}).encode(), "InvalidCloudEvent", id="bad-base64"),
    pytest.param(json.dumps({**VALID, "data_base64": 5}).encode(), "InvalidCloudEvent", id="base64-number"),
    pytest.param(json.dumps(VALID)[:-1].encode() + b', "data": NaN}', "InvalidJSON", id="nan-data"),
    pytest.param(json.dumps(VALID)[:-1].encode() + b', "data": 1e999}', "InvalidJSON", id="infinite-data"),
    pytest.param(json.dumps({**VALID, "data": {"k": "\ud800"}}).encode(), "InvalidEncoding", id="lone-surrogate"),
    pytest.param(json.dumps({**VALID, "type": "\udfff"}).encode(), "InvalidEncoding", id="surrogate-attribute"),
    pytest.param(
        json.dumps(VALID)[:-1].encode() + b', "data": ' + b"[" * 150 + b"]" * 150 + b"}",
        "InvalidJSON",
        id="deep-nesting",
    ),
    pytest.param(
        json.dumps(VALID)[:-1].encode() + b', "data": ' + b"[" * 4000 + b"]" * 4000 + b"}",
        "InvalidJSON",
        id="very-deep-nesting",
    ),
]


@pytest.mark.parametrize(("body", "error_type"), BAD_STRUCTURED)
async def test_malformed_structured_events_are_400(
    url: str, client: httpx.AsyncClient, storage: Any, body: bytes, error_type: str
) -> None:
    response = await client.post(url, content=body, headers=STRUCTURED)
    assert_problem(response, 400, error_type)
    assert storage.published == 0


BINARY = {"ce-specversion": "1.0", "ce-type": "t.x", "ce-source": "/s", "ce-id": "1"}

BAD_BINARY = [
    pytest.param(
        {k: v for k, v in BINARY.items() if k != "ce-specversion"}, b"", "InvalidCloudEvent", id="missing-specversion"
    ),
    pytest.param({**BINARY, "ce-specversion": "0.3"}, b"", "UnsupportedSpecVersion", id="specversion-0.3"),
    pytest.param({k: v for k, v in BINARY.items() if k != "ce-id"}, b"", "InvalidCloudEvent", id="missing-id"),
    pytest.param({**BINARY, "ce-type": ""}, b"", "InvalidCloudEvent", id="empty-type"),
    pytest.param({**BINARY, "ce-time": "not-a-time"}, b"", "InvalidCloudEvent", id="bad-time"),
    pytest.param({**BINARY, "ce-bad_ext": "x"}, b"", "InvalidCloudEvent", id="bad-extension-name"),
    pytest.param({**BINARY, "ce-": "x"}, b"", "InvalidCloudEvent", id="empty-extension-name"),
    pytest.param({**BINARY, "content-type": "application/json"}, b"{oops", "InvalidJSON", id="json-body-malformed"),
    pytest.param({**BINARY, "content-type": "application/json"}, b'"\xff"', "InvalidEncoding", id="json-body-not-utf8"),
    pytest.param({**BINARY}, b"not json either", "InvalidJSON", id="no-content-type-means-json"),
    pytest.param({**BINARY, "content-type": "text/plain"}, b"\xff\xfe", "InvalidEncoding", id="text-not-utf8"),
    pytest.param(
        {**BINARY, "content-type": "text/plain; charset=klingon"}, b"x", "InvalidEncoding", id="unknown-charset"
    ),
    pytest.param({**BINARY, "ce-eddainstanceid": "x" * 300}, b"", "InvalidCloudEvent", id="instance-id-too-long"),
]


@pytest.mark.parametrize(("headers", "body", "error_type"), BAD_BINARY)
async def test_malformed_binary_events_are_400(
    url: str, client: httpx.AsyncClient, storage: Any, headers: dict[str, str], body: bytes, error_type: str
) -> None:
    response = await client.post(url, content=body, headers=headers)
    assert_problem(response, 400, error_type)
    assert storage.published == 0


async def test_oversized_headers_are_431(url: str, client: httpx.AsyncClient, storage: Any) -> None:
    response = await client.post(url, content=b"", headers={**BINARY, "ce-big": "a" * 70_000})
    assert_problem(response, 431, "HeadersTooLarge")
    assert storage.published == 0
    response = await client.post(url, content=b"", headers={**BINARY, "ce-big": "a" * 60_000})
    assert response.status_code == 202  # below the limit: accepted (and stored)


async def test_repeated_ce_header_is_400(url: str, client: httpx.AsyncClient, storage: Any) -> None:
    headers = [*BINARY.items(), ("ce-id", "2")]
    response = await client.post(url, content=b"", headers=headers)
    assert_problem(response, 400, "InvalidHeader")
    assert storage.published == 0


@pytest.mark.parametrize(
    ("content_type", "error_type"),
    [
        ("application/json", "NotACloudEvent"),  # the attributes are in the body, but it does not say so
        ("text/plain", "NotACloudEvent"),
        (None, "NotACloudEvent"),
        ("application/cloudevents-batch+json", "UnsupportedMediaType"),
        ("application/cloudevents+avro", "UnsupportedMediaType"),
    ],
)
async def test_wrong_content_types_are_400(
    url: str, client: httpx.AsyncClient, storage: Any, content_type: str | None, error_type: str
) -> None:
    """The seed's HTTP binding answers every request that is not a CloudEvent 400, never retryable."""
    headers = {"content-type": content_type} if content_type else {}
    response = await client.post(url, content=json.dumps(VALID), headers=headers)
    assert_problem(response, 400, error_type)
    assert "ce-* headers" in response.json()["error"]  # says how to send one
    assert storage.published == 0


@pytest.mark.parametrize("size", [10_001, 200_000, 3_000_000])
async def test_body_over_the_limit_with_content_length_is_413(
    url: str, client: httpx.AsyncClient, storage: Any, size: int
) -> None:
    response = await client.post(url, content=b"x" * size, headers=STRUCTURED)
    assert response.request.headers["content-length"] == str(size)
    assert_problem(response, 413, "PayloadTooLarge")
    assert storage.published == 0


async def test_huge_declared_length_is_refused_before_any_body_is_sent(kit: Any, url: str, storage: Any) -> None:
    head = b"POST / HTTP/1.1\r\nhost: x\r\ncontent-type: application/cloudevents+json\r\ncontent-length: 10000000000\r\n\r\n"
    status, body = await kit.raw_request(url, head)
    assert status == 413 and json.loads(body)["error_type"] == "PayloadTooLarge"
    assert storage.published == 0


async def test_expect_100_continue_is_refused_before_the_body_is_sent(kit: Any, url: str, storage: Any) -> None:
    head = (
        b"POST / HTTP/1.1\r\nhost: x\r\ncontent-type: application/cloudevents+json\r\ncontent-length: 20000\r\n"
        b"expect: 100-continue\r\n\r\n"
    )
    status, _ = await kit.raw_request(url, head, timeout=1)  # no body sent: answered at once, not after 2 s
    assert status == 413
    assert storage.published == 0


async def test_body_over_the_limit_without_content_length_is_413(
    url: str, client: httpx.AsyncClient, storage: Any
) -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(300):
            sent += 1
            yield b"x" * 1000

    response = await client.post(url, content=chunks(), headers=STRUCTURED)
    assert response.request.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in response.request.headers
    assert_problem(response, 413, "PayloadTooLarge")
    assert storage.published == 0


async def test_lying_content_length_cannot_smuggle_a_bigger_body(kit: Any, edda_app: EddaApp, storage: Any) -> None:
    """The limit counts the bytes that arrive, not the declared length (raw socket: clients would not lie)."""
    async with kit.serve(create_asgi_app(edda_app, max_body_bytes=100)) as url:
        head = b"POST / HTTP/1.1\r\nhost: x\r\ncontent-type: application/cloudevents+json\r\n"
        chunked = head + b"transfer-encoding: chunked\r\n\r\n" + b"c8\r\n" + b"x" * 200 + b"\r\n0\r\n\r\n"
        status, _ = await kit.raw_request(url, chunked)
    assert status == 413
    assert storage.published == 0


async def test_invalid_content_length_is_400(kit: Any, edda_app: EddaApp) -> None:
    async with kit.serve(create_asgi_app(edda_app)) as url:
        request = (
            b"POST / HTTP/1.1\r\nhost: x\r\ncontent-type: application/cloudevents+json\r\ncontent-length: -5\r\n\r\n"
        )
        status, _ = await kit.raw_request(url, request)
    assert status == 400  # uvicorn (h11) or we: never accepted


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
async def test_other_methods_are_405(url: str, client: httpx.AsyncClient, method: str) -> None:
    response = await client.request(method, url + "/anything")
    assert_problem(response, 405, "MethodNotAllowed")
    assert response.headers["allow"] == "POST, OPTIONS"


async def test_options_answers_the_cloudevents_webhook_handshake(url: str, client: httpx.AsyncClient) -> None:
    response = await client.options(url, headers={"webhook-request-origin": "eventemitter.example.com"})
    assert response.status_code == 204
    assert response.headers["webhook-allowed-origin"] == "eventemitter.example.com"
    assert "POST" in response.headers["allow"]


async def test_slow_body_is_408_and_retryable(kit: Any, url: str, storage: Any) -> None:
    """A raw socket: HTTP clients do not read an answer before they have sent their whole body."""
    head = b"POST / HTTP/1.1\r\nhost: x\r\ncontent-type: application/cloudevents+json\r\ncontent-length: 50\r\n\r\n{"
    status, body = await kit.raw_request(url, head)  # and then nothing more: body_timeout is 0.5 s
    assert status == 408
    assert json.loads(body) == {
        "error": "The request body did not arrive within 0.5 s",
        "error_type": "RequestTimeout",
        "retryable": True,
    }
    assert storage.published == 0


class GatedStorage:
    """Builds a memory storage (the kit's CountingStorage) whose ``publish`` waits until ``gate`` is set."""

    @staticmethod
    def make(kit: Any, gate: asyncio.Event) -> Any:
        class Gated(kit.CountingStorage):  # type: ignore[name-defined,misc]
            async def publish(self, message: Any, *, now: Any) -> Any:
                await gate.wait()
                return await super().publish(message, now=now)

        return Gated()


async def test_overload_is_503_with_retry_after(kit: Any) -> None:
    release = asyncio.Event()
    storage = GatedStorage.make(kit, release)
    asgi = create_asgi_app(EddaApp(service_name="gated", storage=storage), max_concurrency=1)
    async with kit.serve(asgi) as url, httpx.AsyncClient() as client:
        first = asyncio.create_task(client.post(url, content=json.dumps(VALID), headers=STRUCTURED))
        await kit.wait_until(lambda: asgi.in_flight == 1)  # being stored
        second = await client.post(url, content=json.dumps({**VALID, "id": "2"}), headers=STRUCTURED)
        assert_problem(second, 503, "Overloaded", retryable=True)
        assert second.headers["retry-after"] == "1"
        release.set()
        assert (await first).status_code == 202
        third = await client.post(url, content=json.dumps({**VALID, "id": "3"}), headers=STRUCTURED)
        assert third.status_code == 202
    assert storage.published == 2


async def test_slow_bodies_do_not_hold_processing_slots(kit: Any, edda_app: EddaApp, storage: Any) -> None:
    """Clients trickling their bodies (slowloris), as many as there are processing slots, must not make every other
    producer's events 503: reading a body holds no processing slot (issue 14, finding 4)."""
    release = asyncio.Event()
    reading: set[int] = set()  # requests whose body the app has started to read

    async def held_body() -> AsyncIterator[bytes]:
        yield json.dumps(VALID).encode()[:-1]
        await release.wait()
        yield b"}"

    asgi = create_asgi_app(edda_app, max_concurrency=2, body_timeout=30)

    async def watched(scope: dict[str, Any], receive: Any, send: Any) -> None:
        async def receive_noted() -> Any:
            message = await receive()
            if message.get("type") == "http.request" and message.get("more_body"):
                reading.add(id(scope))
            return message

        await asgi(scope, receive_noted, send)

    async with kit.serve(watched) as url, httpx.AsyncClient() as client:
        slow = [asyncio.create_task(client.post(url, content=held_body(), headers=STRUCTURED)) for _ in range(2)]
        await kit.wait_until(lambda: len(reading) == 2)
        fast = await client.post(url, content=json.dumps({**VALID, "id": "fast"}), headers=STRUCTURED)
        assert fast.status_code == 202, fast.text
        assert storage.published == 1 and asgi.in_flight == 0
        release.set()
        assert [(await task).status_code for task in slow] == [202, 202]
    assert storage.published == 3


async def test_internal_failure_is_500_and_retryable(
    kit: Any, edda_app: EddaApp, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    async with kit.serve(create_asgi_app(edda_app)) as url:

        async def broken(event: Any, wait: bool = False) -> None:
            raise RuntimeError("disk on fire")

        monkeypatch.setattr(edda_app, "handle_cloudevent", broken)
        response = await client.post(url, content=json.dumps(VALID), headers=STRUCTURED)
    assert_problem(response, 500, "InternalError", retryable=True)
    assert "disk on fire" not in response.text  # internals are logged, not sent
    assert "disk on fire" in caplog.text


async def test_storage_unavailable_is_503_and_retryable(
    kit: Any, edda_app: EddaApp, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with kit.serve(create_asgi_app(edda_app)) as url:

        async def down(event: Any, wait: bool = False) -> None:
            raise StorageUnavailableError("postgresql at db:5432 is unreachable")

        monkeypatch.setattr(edda_app, "handle_cloudevent", down)
        response = await client.post(url, content=json.dumps(VALID), headers=STRUCTURED)
    assert_problem(response, 503, "StorageUnavailable", retryable=True)


async def test_payload_over_the_storage_limit_is_413(kit: Any, client: httpx.AsyncClient) -> None:
    from edda.storage.memory import InMemoryStorage

    app = EddaApp(service_name="small", storage=InMemoryStorage(max_payload_bytes=100))
    async with kit.serve(create_asgi_app(app)) as url:
        response = await client.post(url, content=json.dumps({**VALID, "data": "y" * 500}), headers=STRUCTURED)
    assert_problem(response, 413, "PayloadTooLarge")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_body_bytes": 0}, "max_body_bytes"),
        ({"max_concurrency": -1}, "max_concurrency"),
        ({"body_timeout": 0}, "body_timeout"),
        ({"cancel_token": ""}, "cancel_token"),
        ({"cancel_authorizer": "yes"}, "cancel_authorizer"),
        ({"event_token": ""}, "event_token"),
        ({"event_authorizer": 42}, "event_authorizer"),
    ],
)
def test_bad_options_are_refused(edda_app: EddaApp, options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        create_asgi_app(edda_app, **options)
