"""Authentication in front of every page, asset and socket of the viewer: a pure ASGI gate.

A browser proves itself once, with the token in the query string (``/?token=...``) or with basic auth; the gate then
sets a session cookie (``HttpOnly``, ``SameSite=Strict``) derived from the secret, and accepts it from then on,
including on NiceGUI's socket (every action — start, cancel, outbox — arrives over it). Scripts may send
``Authorization: Bearer <token>`` instead.

Why a pure ASGI gate and not a Starlette ``BaseHTTPMiddleware``: the latter does not see WebSocket connections, and
the socket is where actions arrive. Why the socket accepts only the cookie or a bearer token, not basic auth: a
browser attaches cached basic credentials to cross-site requests too, while the ``SameSite=Strict`` cookie stays
home; an ``Origin`` that differs from the host is refused as well.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from edda_viewer._options import ViewerAuth

__all__ = ["COOKIE_NAME", "AuthGate"]

COOKIE_NAME = "edda_viewer_session"
_SOCKET_PREFIX = "/_nicegui_ws"

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _session_value(secret: str) -> str:
    return hmac.new(secret.encode(), b"edda-viewer-session-v1", hashlib.sha256).hexdigest()


class AuthGate:
    """Lets a request through only when it is authenticated (see the module docstring).

    Args:
        app: the ASGI app behind the gate.
        auth: the configured secrets; must be enabled.
    """

    def __init__(self, app: ASGIApp, *, auth: ViewerAuth) -> None:
        if not auth.enabled:
            raise ValueError("AuthGate needs a token or basic auth")
        self.app = app
        self._token = auth.token
        self._basic = f"{auth.username}:{auth.password}" if auth.username is not None else None
        self._sessions = {_session_value(s) for s in (self._token, self._basic) if s is not None}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        socket = kind == "websocket" or scope["path"].startswith(_SOCKET_PREFIX)
        if socket and not _same_origin(headers):
            await self._refuse(scope, receive, send, status=403, text="Cross-origin connection refused.")
            return
        if self._has_session(headers) or self._bearer_ok(headers):
            await self.app(scope, receive, send)
            return
        if not socket and self._basic_ok(headers):
            await self.app(scope, receive, _with_cookie(send, _session_value(self._basic or "")))
            return
        if kind == "http" and self._token is not None and await self._token_login(scope, send):
            return
        await self._refuse(scope, receive, send, status=401, text=self._login_hint())

    # -- checks ---------------------------------------------------------------------------------------------------

    def _has_session(self, headers: dict[str, str]) -> bool:
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:
            return False
        morsel = cookie.get(COOKIE_NAME)
        return morsel is not None and any(hmac.compare_digest(morsel.value, s) for s in self._sessions)

    def _bearer_ok(self, headers: dict[str, str]) -> bool:
        scheme, _, value = headers.get("authorization", "").partition(" ")
        return (
            self._token is not None
            and scheme.lower() == "bearer"
            and hmac.compare_digest(value.strip().encode(), self._token.encode())
        )

    def _basic_ok(self, headers: dict[str, str]) -> bool:
        scheme, _, value = headers.get("authorization", "").partition(" ")
        if self._basic is None or scheme.lower() != "basic":
            return False
        try:
            given = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return hmac.compare_digest(given.encode(), self._basic.encode())

    async def _token_login(self, scope: Scope, send: Send) -> bool:
        """``?token=...`` with the right token: set the session cookie and redirect to the same URL without it."""
        pairs = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        given = [v for k, v in pairs if k == "token"]
        assert self._token is not None
        if not given or not hmac.compare_digest(given[-1].encode(), self._token.encode()):
            return False
        rest = urlencode([(k, v) for k, v in pairs if k != "token"])
        location = scope.get("root_path", "") + scope["path"] + (f"?{rest}" if rest else "")
        await send(
            {
                "type": "http.response.start",
                "status": 303,
                "headers": [(b"location", location.encode("latin-1")), _cookie_header(_session_value(self._token))],
            }
        )
        await send({"type": "http.response.body", "body": b""})
        return True

    def _login_hint(self) -> str:
        ways = []
        if self._token is not None:
            ways.append("open this address with ?token=<the viewer's token> once (or send 'Authorization: Bearer')")
        if self._basic is not None:
            ways.append("log in with the viewer's user name and password")
        return "Authentication required: " + ", or ".join(ways) + ".\n"

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, *, status: int, text: str) -> None:
        if scope["type"] == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1008})
            return
        headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"cache-control", b"no-store")]
        if status == 401 and self._basic is not None:
            headers.append((b"www-authenticate", b'Basic realm="Edda viewer", charset="UTF-8"'))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": text.encode()})


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _same_origin(headers: dict[str, str]) -> bool:
    origin = headers.get("origin")
    if not origin or origin == "null":
        return origin is None
    hosts = {headers.get("host", "").lower(), headers.get("x-forwarded-host", "").split(",")[0].strip().lower()}
    return urlsplit(origin).netloc.lower() in hosts - {""}


def _cookie_header(value: str) -> tuple[bytes, bytes]:
    return b"set-cookie", f"{COOKIE_NAME}={value}; Path=/; HttpOnly; SameSite=Strict".encode()


def _with_cookie(send: Send, value: str) -> Send:
    async def wrapped(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            message = dict(message)
            message["headers"] = [*message.get("headers", []), _cookie_header(value)]
        await send(message)

    return wrapped
