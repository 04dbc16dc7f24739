"""The ASGI application: CloudEvents in, cancellations, lifespan, overload protection.

Rationale: this is a raw ASGI callable rather than a Starlette app, so edda-asgi adds no web framework to the user's
process and mounts under any of them. A request is answered in this order, so the cheap refusals come first and
nothing is stored unless every check passed:

1. method (405) and path (``/cancel/{id}`` or anything else = an event);
2. overload (503 + ``Retry-After`` when ``max_concurrency`` requests are being processed), header size (431);
3. authorization (401/403: ``cancel_token``/``cancel_authorizer``, ``event_token``/``event_authorizer``); for events:
   content mode from the headers (400), declared length (413);
4. the body, counted while it streams (413) and timed (408);
5. parsing and validation with the cloudevents SDK (400);
6. a processing slot (503 if none is free), ``handle_cloudevent`` (which stores the event durably), and only then 202.

Reading a body does not hold a processing slot: ``max_concurrency`` bounds the requests that reach the database, and
slow clients only ever wait for their own bodies (each within ``body_timeout``), so a few of them cannot make every
other producer's events 503. How many connections may be open at once is the server's to bound (uvicorn's
``--limit-concurrency``); each one buffers at most ``max_body_bytes``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from edda.exceptions import (
    InvalidInputError,
    PayloadTooLargeError,
    SerializationError,
    StorageUnavailableError,
    WorkflowNotFoundError,
    WorkflowStateError,
)
from edda_asgi._auth import Authorizer, RequestGuard
from edda_asgi._body import ClientDisconnected, declared_length, read_body, refuse_declared
from edda_asgi._headers import Headers
from edda_asgi._parse import MAX_INSTANCE_ID, content_mode, parse_cloudevent
from edda_asgi._problems import HTTPProblem, Send, send_json

__all__ = ["EddaASGIApp", "create_asgi_app"]

logger = logging.getLogger("edda.asgi")

Receive = Callable[[], Awaitable[dict[str, Any]]]
CANCEL_PREFIX = "/cancel/"
ALLOW = "POST, OPTIONS"
UNPROTECTED_CANCEL = (
    "POST /cancel/{instance_id} is served without cancel_token or cancel_authorizer: anyone who can reach this "
    "endpoint can cancel any workflow instance whose id they know or guess. Pass one of them to create_asgi_app(), "
    "or keep the endpoint on a private network."
)


class EddaASGIApp:
    """The HTTP face of an :class:`edda.EddaApp` (create it with :func:`create_asgi_app`).

    Attributes:
        edda_app: the app events are delivered to.
        max_body_bytes, max_concurrency, body_timeout: the limits it enforces.
    """

    def __init__(
        self,
        edda_app: Any,
        *,
        max_body_bytes: int,
        max_concurrency: int,
        body_timeout: float,
        cancel_authorizer: Authorizer | None,
        cancel_token: str | None,
        event_authorizer: Authorizer | None = None,
        event_token: str | None = None,
    ) -> None:
        for name, value in (("max_body_bytes", max_body_bytes), ("max_concurrency", max_concurrency)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if not isinstance(body_timeout, int | float) or body_timeout <= 0:
            raise ValueError(f"body_timeout must be a positive number of seconds, got {body_timeout!r}")
        self.edda_app = edda_app
        self.max_body_bytes = max_body_bytes
        self.max_concurrency = max_concurrency
        self.body_timeout = float(body_timeout)
        self._guard = RequestGuard(
            token=cancel_token, authorizer=cancel_authorizer, option="cancel", action="cancel workflow instances"
        )
        self._event_guard = RequestGuard(
            token=event_token, authorizer=event_authorizer, option="event", action="post events"
        )
        self._in_flight = 0
        self._warned = False
        self._ready = False
        self._init_lock = asyncio.Lock()

    @property
    def cancel_unprotected(self) -> bool:
        """True when anyone who can reach the endpoint may cancel any workflow (no token, no authorizer)."""
        return self._guard.open

    @property
    def in_flight(self) -> int:
        """Requests being processed right now (past their body, storing or cancelling)."""
        return self._in_flight

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "websocket":
            await send({"type": "websocket.close", "code": 1003})

    # -- lifespan ---------------------------------------------------------------------------------------------

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self._ensure_ready()
                except Exception as exc:
                    logger.exception("Edda failed to start")
                    await send({"type": "lifespan.startup.failed", "message": f"{type(exc).__name__}: {exc}"})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self._ready = False
                try:
                    await self.edda_app.shutdown()
                except Exception as exc:
                    logger.exception("Edda failed to shut down cleanly")
                    await send({"type": "lifespan.shutdown.failed", "message": f"{type(exc).__name__}: {exc}"})
                    return
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _ensure_ready(self) -> None:
        """Initialize the EddaApp once: at lifespan startup, or at the first request where the server (or a parent
        app that mounts this one) runs no lifespan for it."""
        if self._ready:
            return
        async with self._init_lock:
            if not self._ready:
                await self.edda_app.initialize()
                self._ready = True
                if self.cancel_unprotected and not self._warned:
                    self._warned = True
                    logger.warning(UNPROTECTED_CANCEL)

    # -- requests ---------------------------------------------------------------------------------------------

    async def _http(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        method = scope.get("method", "GET")
        if method == "OPTIONS":
            await self._options(scope, send)
            return
        if method != "POST":
            problem = HTTPProblem(
                405,
                f"{method} is not allowed: POST CloudEvents here",
                error_type="MethodNotAllowed",
                headers=[("allow", ALLOW)],
            )
            await send_json(send, problem.status, problem.body(), problem.headers)
            return
        try:
            self._check_overload()  # before reading anything: a flood is refused cheaply
            status, payload = await self._dispatch(scope, receive)
        except HTTPProblem as problem:
            await send_json(send, problem.status, problem.body(), problem.headers)
        except ClientDisconnected:
            return
        else:
            await send_json(send, status, payload)

    def _check_overload(self) -> None:
        if self._in_flight >= self.max_concurrency:
            raise HTTPProblem(
                503,
                f"Overloaded: {self._in_flight} requests being processed; retry after a moment",
                error_type="Overloaded",
                retryable=True,
                headers=[("retry-after", "1")],
            )

    @contextlib.contextmanager
    def _processing(self) -> Iterator[None]:
        """Hold one of ``max_concurrency`` processing slots (503 when none is free)."""
        self._check_overload()
        self._in_flight += 1
        try:
            yield
        finally:
            self._in_flight -= 1

    async def _dispatch(self, scope: dict[str, Any], receive: Receive) -> tuple[int, dict[str, Any]]:
        headers = Headers(scope.get("headers") or [])
        headers.check_size()
        path = relative_path(scope)
        if path == "/cancel" or path.startswith(CANCEL_PREFIX):
            return await self._cancel(scope, headers, path[len(CANCEL_PREFIX) :])
        return await self._event(scope, headers, receive)

    async def _authorize(self, guard: RequestGuard, scope: dict[str, Any], headers: Headers) -> None:
        try:
            await guard.check(scope, headers)
        except HTTPProblem:
            raise
        except Exception:
            logger.exception("%s failed", "cancel_authorizer" if guard is self._guard else "event_authorizer")
            raise internal_error() from None

    async def _event(self, scope: dict[str, Any], headers: Headers, receive: Receive) -> tuple[int, dict[str, Any]]:
        await self._authorize(self._event_guard, scope, headers)
        mode = content_mode(headers)
        length = declared_length(headers.get("content-length"))
        if length is not None and length > self.max_body_bytes:
            # A client that asked "Expect: 100-continue" has not sent the body and will not: answer at once.
            expects_continue = (headers.get("expect") or "").strip().lower() == "100-continue"
            await refuse_declared(receive, length, self.max_body_bytes, drain=not expects_continue)
        body = await read_body(receive, limit=self.max_body_bytes, timeout=self.body_timeout)
        event = parse_cloudevent(mode, headers, body)
        with self._processing():
            await self._deliver(event)
        return 202, {"status": "accepted", "event_id": event.get_id()}

    async def _start(self) -> None:
        try:
            await self._ensure_ready()
        except StorageUnavailableError:
            logger.warning("Storage unavailable while starting Edda", exc_info=True)
            raise unavailable("The workflow database is unreachable") from None
        except Exception:
            logger.exception("Starting Edda failed")
            raise internal_error() from None

    async def _deliver(self, event: Any) -> None:
        await self._start()
        try:
            await self.edda_app.handle_cloudevent(event)
        except PayloadTooLargeError as exc:
            raise HTTPProblem(413, str(exc), error_type="PayloadTooLarge") from None
        except (SerializationError, ValueError) as exc:  # handle_cloudevent: the event cannot be stored as it is
            raise HTTPProblem(400, str(exc)[:500], error_type="InvalidCloudEvent") from None
        except StorageUnavailableError:
            logger.warning("Storage unavailable while accepting an event", exc_info=True)
            raise unavailable("The workflow database is unreachable") from None
        except Exception:
            logger.exception("Accepting a CloudEvent failed")
            raise internal_error() from None

    async def _cancel(self, scope: dict[str, Any], headers: Headers, instance_id: str) -> tuple[int, dict[str, Any]]:
        await self._authorize(self._guard, scope, headers)
        if not instance_id or len(instance_id) > MAX_INSTANCE_ID:
            raise HTTPProblem(
                400,
                f"POST /cancel/{{instance_id}} needs an instance id of 1 to {MAX_INSTANCE_ID} characters",
                error_type="InvalidPath",
            )
        await self._start()
        with self._processing():
            return await self._cancel_instance(instance_id)

    async def _cancel_instance(self, instance_id: str) -> tuple[int, dict[str, Any]]:
        try:
            await self.edda_app.cancel_workflow(instance_id)
        except InvalidInputError as exc:  # an id no instance can have (NUL, a lone surrogate, a trailing space)
            raise HTTPProblem(400, str(exc)[:500], error_type="InvalidPath") from None
        except WorkflowNotFoundError:
            raise HTTPProblem(404, f"No workflow instance {instance_id!r}", error_type="WorkflowNotFound") from None
        except WorkflowStateError as exc:
            raise HTTPProblem(409, str(exc), error_type="WorkflowStateError") from None
        except StorageUnavailableError:
            logger.warning("Storage unavailable while cancelling %s", instance_id, exc_info=True)
            raise unavailable("The workflow database is unreachable") from None
        except Exception:
            logger.exception("Cancelling %s failed", instance_id)
            raise internal_error() from None
        return 202, {"status": "accepted", "instance_id": instance_id}

    async def _options(self, scope: dict[str, Any], send: Send) -> None:
        """CORS-free preflight and the CloudEvents webhook validation handshake (``WebHook-Request-Origin``)."""
        headers = [("allow", ALLOW)]
        try:
            origin = Headers(scope.get("headers") or []).get("webhook-request-origin")
        except HTTPProblem:
            origin = None
        if origin:
            headers.append(("webhook-allowed-origin", origin))
        await send(
            {
                "type": "http.response.start",
                "status": 204,
                "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers],
            }
        )
        await send({"type": "http.response.body", "body": b""})


def relative_path(scope: dict[str, Any]) -> str:
    """The request path below where the app is mounted.

    ASGI servers and routers disagree on whether ``path`` still holds ``root_path`` (uvicorn ``--root-path`` and
    Starlette's ``Mount`` keep it; older routers strip it), so strip it only when it is there.
    """
    path: str = scope.get("path") or "/"
    root: str = (scope.get("root_path") or "").rstrip("/")
    if root and (path == root or path.startswith(root + "/")):
        path = path[len(root) :] or "/"
    return path


def internal_error() -> HTTPProblem:
    return HTTPProblem(
        500, "Internal error; the event was not accepted, retry later", error_type="InternalError", retryable=True
    )


def unavailable(message: str) -> HTTPProblem:
    return HTTPProblem(
        503, f"{message}; retry later", error_type="StorageUnavailable", retryable=True, headers=[("retry-after", "1")]
    )


def create_asgi_app(
    edda_app: Any,
    *,
    max_body_bytes: int = 1_048_576,
    max_concurrency: int = 100,
    body_timeout: float = 10.0,
    cancel_authorizer: Authorizer | None = None,
    cancel_token: str | None = None,
    event_authorizer: Authorizer | None = None,
    event_token: str | None = None,
) -> EddaASGIApp:
    """Serve an :class:`edda.EddaApp` over HTTP as an ASGI application.

    Every ``POST`` is a CloudEvent (structured ``application/cloudevents+json`` or binary ``ce-*`` headers), whatever
    its path, except ``POST /cancel/{instance_id}``, which cancels that workflow instance. A ``202`` means the event
    is stored durably. The ASGI lifespan initializes and shuts down the EddaApp; where no lifespan runs (mounted in
    another framework, WSGI) the first request initializes it.

    Args:
        edda_app: the :class:`edda.EddaApp` to deliver events to.
        max_body_bytes: larger bodies are refused with 413 before they are read.
        max_concurrency: requests processed at once (from a complete body to the answer; reading a body does not
            count); more are refused with 503 and ``Retry-After`` (retryable).
        body_timeout: seconds a client may take to send its body (then 408).
        cancel_authorizer: ``authorizer(scope) -> bool`` (or async): may this request cancel? False gives 403.
        cancel_token: require ``Authorization: Bearer <cancel_token>`` on cancel requests (401 otherwise).
        event_authorizer: ``authorizer(scope) -> bool`` (or async): may this request post an event? False gives 403.
            Checked before the body is read.
        event_token: require ``Authorization: Bearer <event_token>`` on event requests (401 otherwise).

    Returns:
        The ASGI application.

    Warning:
        Without ``cancel_token`` or ``cancel_authorizer``, anyone who can reach the endpoint can cancel any workflow
        whose id they know or guess (logged as a WARNING when the app starts). Protect it, or keep the endpoint on a
        private network.
    """
    return EddaASGIApp(
        edda_app,
        max_body_bytes=max_body_bytes,
        max_concurrency=max_concurrency,
        body_timeout=body_timeout,
        cancel_authorizer=cancel_authorizer,
        cancel_token=cancel_token,
        event_authorizer=event_authorizer,
        event_token=event_token,
    )
