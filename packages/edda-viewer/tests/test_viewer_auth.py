"""The authentication gate, over real HTTP and WebSocket connections to uvicorn on loopback: a token (query string
once, then the session cookie; or a bearer header) and basic auth; the socket (where actions arrive) accepts only the
session cookie or a bearer token, from the same origin."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from edda_viewer import ViewerAuth
from edda_viewer._auth import COOKIE_NAME, AuthGate

websockets = pytest.importorskip("websockets")

TOKEN = "viewer-token-0123456789"
USER, PASSWORD = "ops", "correct horse"


async def _page(request):  # type: ignore[no-untyped-def]
    return PlainTextResponse(f"page {request.url.path}?{request.url.query}")


async def _socket(ws: WebSocket) -> None:
    await ws.accept()
    await ws.send_text("connected")
    await ws.close()


def _app() -> Starlette:
    return Starlette(
        routes=[
            Route("/", _page),
            Route("/workflow/{rest:path}", _page),
            WebSocketRoute("/_nicegui_ws/socket.io/", _socket),
        ]
    )


class _Server(uvicorn.Server):
    def capture_signals(self) -> contextlib.AbstractContextManager[None]:  # type: ignore[override]
        return contextlib.nullcontext()


@contextlib.asynccontextmanager
async def serve(auth: ViewerAuth) -> AsyncIterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(AuthGate(_app(), auth=auth), log_level="warning", access_log=False, lifespan="off")
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            assert not task.done(), "uvicorn stopped before it started"
            await asyncio.sleep(0.01)
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def test_without_credentials_nothing_is_served_and_the_answer_says_how_to_log_in() -> None:
    async with serve(ViewerAuth(token=TOKEN, username=USER, password=PASSWORD)) as host:
        async with httpx.AsyncClient(base_url=f"http://{host}") as client:
            response = await client.get("/workflow/abc")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith('Basic realm="Edda viewer"')
    assert "?token=" in response.text and "user name and password" in response.text
    assert TOKEN not in response.text and PASSWORD not in response.text


async def test_the_token_in_the_query_sets_a_session_cookie_and_is_removed_from_the_address() -> None:
    async with serve(ViewerAuth(token=TOKEN)) as host:
        async with httpx.AsyncClient(base_url=f"http://{host}") as client:
            wrong = await client.get("/", params={"token": "not-the-token-at-all"})
            assert wrong.status_code == 401 and "www-authenticate" not in wrong.headers
            login = await client.get("/workflow/abc", params={"token": TOKEN, "tab": "history"})
            assert login.status_code == 303
            assert login.headers["location"] == "/workflow/abc?tab=history"
            cookie = login.headers["set-cookie"]
            assert cookie.startswith(f"{COOKIE_NAME}=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
            assert TOKEN not in cookie
            page = await client.get("/workflow/abc?tab=history")  # the client sends the cookie back
            assert page.status_code == 200 and page.text == "page /workflow/abc?tab=history"
        async with httpx.AsyncClient(base_url=f"http://{host}") as script:
            assert (await script.get("/", headers={"Authorization": f"Bearer {TOKEN}"})).status_code == 200
            assert (await script.get("/", headers={"Authorization": "Bearer nope"})).status_code == 401
            forged = await script.get("/", headers={"Cookie": f"{COOKIE_NAME}={'0' * 64}"})
            assert forged.status_code == 401


async def test_basic_auth_is_checked_and_then_kept_as_a_session() -> None:
    async with serve(ViewerAuth(username=USER, password=PASSWORD)) as host:
        async with httpx.AsyncClient(base_url=f"http://{host}") as client:
            assert (await client.get("/", headers={"Authorization": _basic(USER, "wrong pass")})).status_code == 401
            assert (await client.get("/", headers={"Authorization": "Basic !!!"})).status_code == 401
            ok = await client.get("/", headers={"Authorization": _basic(USER, PASSWORD)})
            assert ok.status_code == 200 and COOKIE_NAME in ok.headers["set-cookie"]
            assert (await client.get("/")).status_code == 200  # the cookie alone
        async with httpx.AsyncClient(base_url=f"http://{host}") as stranger:
            # There is no token to log in with.
            assert (await stranger.get("/", params={"token": TOKEN})).status_code == 401


async def _socket_answer(host: str, **headers: str) -> str:
    try:
        async with websockets.connect(f"ws://{host}/_nicegui_ws/socket.io/", additional_headers=headers) as ws:
            return str(await ws.recv())
    except websockets.exceptions.InvalidStatus as exc:
        return f"refused {exc.response.status_code}"
    except websockets.exceptions.ConnectionClosed:
        return "closed"


async def test_the_socket_needs_the_session_cookie_and_the_same_origin() -> None:
    async with serve(ViewerAuth(token=TOKEN, username=USER, password=PASSWORD)) as host:
        async with httpx.AsyncClient(base_url=f"http://{host}") as client:
            login = await client.get("/", params={"token": TOKEN})
        cookie = login.headers["set-cookie"].split(";")[0]
        origin = f"http://{host}"
        assert await _socket_answer(host, Cookie=cookie, Origin=origin) == "connected"
        assert await _socket_answer(host, Authorization=f"Bearer {TOKEN}", Origin=origin) == "connected"
        assert (await _socket_answer(host, Origin=origin)).startswith("refused 403")
        # Basic credentials, which a browser attaches to cross-site requests too, do not open the socket.
        assert (await _socket_answer(host, Authorization=_basic(USER, PASSWORD), Origin=origin)).startswith("refused")
        # Nor does the cookie from another site's page.
        assert (await _socket_answer(host, Cookie=cookie, Origin="http://evil.example")).startswith("refused 403")


def test_the_gate_needs_something_to_check() -> None:
    with pytest.raises(ValueError, match="needs a token or basic auth"):
        AuthGate(_app(), auth=ViewerAuth())
