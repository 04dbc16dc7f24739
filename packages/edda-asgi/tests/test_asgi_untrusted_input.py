"""What an unauthenticated sender can do to the endpoint, on every storage backend (issue 14, findings 4 and 5):

* text a database cannot store (NUL, lone surrogates) or would confuse (an id ending with a space, which MySQL
  compares equal to the id without it) is answered 400, never a retryable 500, and changes nothing;
* events addressed to unknown or finished instances expire with the message retention period;
* the event endpoint can require a token or an authorizer, like the cancel endpoint;
* serving the cancel endpoint unprotected is logged once, as a WARNING, when the app starts.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from edda import EddaApp, WorkflowContext, wait_event, workflow
from edda_asgi import create_asgi_app

STRUCTURED = {"content-type": "application/cloudevents+json"}
TARGET = "untrusted.target"


@workflow
async def untrusted_waiter(ctx: WorkflowContext) -> Any:
    return (await wait_event(ctx, TARGET)).data


@workflow
async def untrusted_done(ctx: WorkflowContext) -> str:
    return "done"


def event(**attributes: Any) -> bytes:
    return json.dumps({"specversion": "1.0", "type": TARGET, "source": "/s", "id": "1", **attributes}).encode()


def assert_400(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["retryable"] is False, problem  # a compliant sender must not retry it for ever
    return problem


async def test_unstorable_text_is_400_and_changes_nothing(kit: Any, backend_app: EddaApp) -> None:
    async with kit.serve(create_asgi_app(backend_app)) as url, httpx.AsyncClient(timeout=30) as client:
        waiter = await untrusted_waiter.start(instance_id="waiter-1")
        await kit.wait_status(backend_app, waiter)
        structured = [
            event(type="a\x00b"),
            event(type=TARGET + " "),  # MySQL would deliver it as TARGET
            event(eddainstanceid="waiter\x00"),
            event(eddainstanceid=waiter + " "),  # MySQL would deliver it to waiter-1
            event(eddainstanceid="a\ud800b"),
            event(subject="line\nbreak"),
            event(note="\ufffe"),
        ]
        for body in structured:
            problem = assert_400(await client.post(url, content=body, headers=STRUCTURED))
            assert problem["error_type"] in ("InvalidCloudEvent", "InvalidEncoding"), problem
        binary = {"ce-specversion": "1.0", "ce-source": "/s", "ce-id": "1", "content-type": "application/json"}
        for bad in ({"ce-type": "a%00b"}, {"ce-type": TARGET, "ce-eddainstanceid": "waiter-1%00"}):
            assert_400(await client.post(url, content=b"{}", headers=binary | bad))
        for path in ("/cancel/a%00b", f"/cancel/{waiter}%20"):
            problem = assert_400(await client.post(url + path))
            assert problem["error_type"] == "InvalidPath", problem
        assert await kit.message_count(backend_app) == 0
        assert await kit.status_of(backend_app, waiter) == "waiting_for_event"
        ok = await client.post(url, content=event(data={"n": 1}, eddainstanceid=waiter), headers=STRUCTURED)
        assert ok.status_code == 202, ok.text
        assert await backend_app.wait_for_result(waiter, timeout=10) == {"n": 1}


class ShiftedClock:
    """The real time, moved forward by ``offset`` (to see the app a week later)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


async def test_events_nobody_can_take_expire_with_the_retention_period(kit: Any, backend_app: EddaApp) -> None:
    clock = ShiftedClock()
    backend_app.clock = clock
    async with kit.serve(create_asgi_app(backend_app)) as url:
        live = await untrusted_waiter.start(instance_id="live-1")
        finished = await untrusted_done.start(instance_id="done-1")
        await backend_app.wait_for_result(finished, timeout=10)
        await kit.wait_status(backend_app, live)
        targets = [f"ghost-{n}" for n in range(200)] + [finished] * 20 + [live] * 3
        for n, target in enumerate(targets):  # one write per request (httpx spends ~40 ms on each here)
            body = event(type="untrusted.other", id=str(n), eddainstanceid=target)
            status, answer = await kit.raw_request(url, _raw_post(body))
            assert status == 202, answer
        assert await kit.message_count(backend_app) == len(targets)
    clock.offset = timedelta(days=backend_app.settings.message_retention_days, hours=1)
    await backend_app.initialize()  # a week later: the cleanup runs at start, then hourly
    try:
        await kit.wait_until(lambda: _count_is(kit, backend_app, 3), timeout=15)
    finally:
        await backend_app.shutdown()


def _raw_post(body: bytes) -> bytes:
    head = f"POST / HTTP/1.1\r\nhost: edda\r\ncontent-type: application/cloudevents+json\r\ncontent-length: {len(body)}"
    return head.encode() + b"\r\nconnection: close\r\n\r\n" + body


async def _count_is(kit: Any, app: EddaApp, expected: int) -> bool:
    return await kit.message_count(app) == expected


@pytest.mark.parametrize("is_async", [False, True])
async def test_event_authorizer(kit: Any, edda_app: EddaApp, storage: Any, is_async: bool) -> None:
    seen: list[str] = []

    def decide(scope: dict[str, Any]) -> bool:
        seen.append(scope["path"])
        return dict(scope["headers"]).get(b"x-producer") == b"shop"

    async def decide_async(scope: dict[str, Any]) -> bool:
        return decide(scope)

    app = create_asgi_app(edda_app, event_authorizer=decide_async if is_async else decide, max_body_bytes=100)
    async with kit.serve(app) as url, httpx.AsyncClient(timeout=30) as client:
        denied = await client.post(url + "/events", content=event(), headers=STRUCTURED | {"x-producer": "x"})
        assert denied.status_code == 403 and denied.json()["error_type"] == "Forbidden"
        huge = await client.post(url, content=b"{" * 10_000, headers=STRUCTURED)
        assert huge.status_code == 403  # decided before the body is read: not 413
        allowed = await client.post(url, content=event(), headers=STRUCTURED | {"x-producer": "shop"})
        assert allowed.status_code == 202
        cancel = await client.post(url + "/cancel/nobody")
        assert cancel.status_code == 404  # the event authorizer does not guard cancels
    assert seen == ["/events", "/", "/"]
    assert storage.published == 1


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), ({"authorization": "Bearer wrong"}, 401), ({"authorization": "Bearer s3cret"}, 202)],
)
async def test_event_token(kit: Any, edda_app: EddaApp, storage: Any, headers: dict[str, str], status: int) -> None:
    async with kit.serve(create_asgi_app(edda_app, event_token="s3cret")) as url, httpx.AsyncClient() as client:
        response = await client.post(url, content=event(), headers=STRUCTURED | headers)
    assert response.status_code == status, response.text
    if status == 401:
        assert response.json()["error_type"] == "Unauthorized" and response.json()["retryable"] is False
        assert "event_token" in response.json()["error"]
    assert storage.published == (1 if status == 202 else 0)


async def test_failing_event_authorizer_is_500_and_stores_nothing(
    kit: Any, edda_app: EddaApp, storage: Any, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(scope: dict[str, Any]) -> bool:
        raise KeyError("policy store down")

    async with kit.serve(create_asgi_app(edda_app, event_authorizer=broken)) as url, httpx.AsyncClient() as client:
        response = await client.post(url, content=event(), headers=STRUCTURED)
    assert response.status_code == 500 and response.json()["retryable"] is True
    assert storage.published == 0
    assert "event_authorizer failed" in caplog.text


def _unprotected_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.levelno == logging.WARNING and "without cancel_token or cancel_authorizer" in r.getMessage()
    ]


@pytest.mark.parametrize(
    ("options", "warnings"),
    [({}, 1), ({"cancel_token": "t"}, 0), ({"cancel_authorizer": lambda scope: True}, 0)],
)
async def test_unprotected_cancel_warns_once_at_startup(
    kit: Any, edda_app: EddaApp, caplog: pytest.LogCaptureFixture, options: dict[str, Any], warnings: int
) -> None:
    caplog.set_level(logging.INFO, logger="edda.asgi")
    asgi = create_asgi_app(edda_app, **options)
    assert _unprotected_warnings(caplog) == []  # creating it logs nothing: starting it does
    async with kit.serve(asgi) as url, httpx.AsyncClient() as client:
        for n in range(3):
            await client.post(url, content=event(id=str(n)), headers=STRUCTURED)
        await client.post(url + "/cancel/nobody")
    assert len(_unprotected_warnings(caplog)) == warnings


async def test_an_edda_app_served_directly_warns_once(kit: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="edda.asgi")
    app = EddaApp(service_name="direct", db_url="memory://")
    async with kit.serve(app) as url, httpx.AsyncClient() as client:
        await client.post(url, content=event(), headers=STRUCTURED)
    assert len(_unprotected_warnings(caplog)) == 1
