"""The HTTP face of an EddaMCPServer: MCP streamable HTTP at ``/mcp``, CloudEvents at ``/`` and ``POST
/cancel/{instance_id}`` (delegated to edda-asgi), one lifespan that starts Edda and the MCP session manager.

Authentication uses the MCP SDK's bearer-token middleware: ``AuthenticationMiddleware`` with ``BearerAuthBackend``
reads and verifies the token, and ``RequireAuthMiddleware`` answers 401 (``WWW-Authenticate: Bearer ...``) to a
request that has none or a bad one. It guards every route that reaches Edda: the MCP endpoint, cancellation and (by
default) CloudEvents; only the OAuth protected-resource metadata (when ``AuthSettings.resource_server_url`` is set)
is public, as the OAuth spec wants.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast

from mcp.server.auth.middleware.auth_context import AuthContextMiddleware
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser, BearerAuthBackend, RequireAuthMiddleware
from mcp.server.auth.provider import TokenVerifier
from mcp.server.auth.routes import build_resource_metadata_url, create_protected_resource_routes
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from edda import EddaApp

__all__ = ["HttpOptions", "build_http_app"]

CANCEL_PREFIX = "/cancel/"


class HttpOptions:
    """What ``asgi_app()`` was asked for."""

    def __init__(
        self,
        *,
        path: str,
        json_response: bool,
        stateless_http: bool,
        transport_security: TransportSecuritySettings | None,
        authenticate_events: bool,
    ) -> None:
        if not isinstance(path, str) or not path.startswith("/") or path == "/" or path.endswith("/"):
            raise ValueError(f"path must look like '/mcp' (a leading slash, no trailing one), got {path!r}")
        self.path = path
        self.json_response = json_response
        self.stateless_http = stateless_http
        self.transport_security = transport_security
        self.authenticate_events = authenticate_events


class _EventsAndCancel:
    """Everything outside the MCP endpoint goes to edda-asgi: ``POST /cancel/{id}`` always guarded, CloudEvents
    guarded unless ``authenticate_events=False``."""

    def __init__(self, events: ASGIApp, guarded: ASGIApp, *, guard_events: bool) -> None:
        self._events = events
        self._guarded = guarded
        self._guard_events = guard_events

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path") or "/"
        root: str = (scope.get("root_path") or "").rstrip("/")
        if root and path.startswith(root + "/"):
            path = path[len(root) :]
        if self._guard_events or path == "/cancel" or path.startswith(CANCEL_PREFIX):
            await self._guarded(scope, receive, send)
        else:
            await self._events(scope, receive, send)


def _authenticated(scope: dict[str, Any]) -> bool:
    return isinstance(scope.get("user"), AuthenticatedUser)


def _edda_asgi(app: EddaApp, *, authenticated: bool) -> ASGIApp:
    try:
        from edda_asgi import create_asgi_app  # pyright: ignore[reportMissingImports]
    except ImportError as exc:
        raise ImportError(
            "EddaMCPServer.asgi_app() serves CloudEvents and cancellation through the edda-asgi package, which is "
            "not installed: pip install edda-asgi"
        ) from exc
    # With a verifier the cancel route is behind RequireAuthMiddleware already; the authorizer checks it again.
    return cast(ASGIApp, create_asgi_app(app, cancel_authorizer=_authenticated if authenticated else None))


def _auth_layer(
    verifier: TokenVerifier | None, auth: AuthSettings | None
) -> tuple[list[Middleware], Callable[[ASGIApp], ASGIApp], list[BaseRoute]]:
    """The SDK's bearer middleware, the guard that requires a verified token, and the public metadata routes."""
    if verifier is None:
        return [], lambda app: app, []
    scopes = list(auth.required_scopes or []) if auth is not None else []
    resource = auth.resource_server_url if auth is not None else None
    metadata_url = build_resource_metadata_url(resource) if resource is not None else None
    check_resource = resource if auth is not None and auth.validate_token_resource else None
    middleware = [
        Middleware(AuthenticationMiddleware, backend=BearerAuthBackend(verifier, resource_server_url=check_resource)),
        Middleware(AuthContextMiddleware),
    ]
    routes: list[BaseRoute] = []
    if auth is not None and resource is not None:
        routes.extend(
            create_protected_resource_routes(
                resource_url=resource, authorization_servers=[auth.issuer_url], scopes_supported=auth.required_scopes
            )
        )

    def guard(app: ASGIApp) -> ASGIApp:
        return RequireAuthMiddleware(app, scopes, metadata_url)

    return middleware, guard, routes


def build_http_app(
    *,
    mcp: MCPServer[Any],
    edda_app: EddaApp,
    startup: Callable[[], Awaitable[None]],
    shutdown: Callable[[], Awaitable[None]],
    verifier: TokenVerifier | None,
    auth: AuthSettings | None,
    options: HttpOptions,
) -> Starlette:
    """A Starlette app with the MCP endpoint, CloudEvents and cancellation, and bearer auth when ``verifier`` is set."""
    mcp.streamable_http_app(
        streamable_http_path=options.path,
        json_response=options.json_response,
        stateless_http=options.stateless_http,
        transport_security=options.transport_security,
    )
    manager = mcp.session_manager  # the one streamable_http_app() just made: each asgi_app() gets its own
    events = _edda_asgi(edda_app, authenticated=verifier is not None)
    middleware, guard, public_routes = _auth_layer(verifier, auth)
    endpoint = guard(StreamableHTTPASGIApp(manager))
    routes: list[BaseRoute] = [
        Route(options.path, endpoint=endpoint),
        Route(options.path + "/", endpoint=endpoint),
        *public_routes,
        Mount("/", app=_EventsAndCancel(events, guard(events), guard_events=options.authenticate_events)),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await startup()
        try:
            async with manager.run():
                yield
        finally:
            await shutdown()

    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
