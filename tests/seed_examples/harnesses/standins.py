"""Loopback stand-ins for what the examples talk to: a CloudEvents broker, JSON services (an LLM, an email or
payment API, a user directory), and a way to serve an ASGI app. All are real HTTP servers on 127.0.0.1 (uvicorn),
and CloudEvents are built and parsed with the official ``cloudevents`` SDK."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import uvicorn
from cloudevents.core.bindings.http import HTTPMessage, from_http_event, to_binary_event, to_structured_event
from cloudevents.core.v1.event import CloudEvent

__all__ = ["Broker", "JsonService", "cloudevent", "post_cloudevent", "serve"]


class _Server(uvicorn.Server):
    def capture_signals(self) -> contextlib.AbstractContextManager[None]:  # type: ignore[override]
        return contextlib.nullcontext()


@contextlib.asynccontextmanager
async def serve(app: Any, *, lifespan: str = "auto") -> AsyncIterator[str]:
    """Serve the ASGI ``app`` with uvicorn on a free loopback port in this event loop; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, lifespan=lifespan, log_level="warning", access_log=False)
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("uvicorn stopped before it started")
            await asyncio.sleep(0.005)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)
        sock.close()


async def _read_body(receive: Any) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


async def _respond(send: Any, status: int, payload: Any = None) -> None:
    body = b"" if payload is None else json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json")] if payload is not None else []
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Broker:
    """A CloudEvents broker on loopback: accepts events in either content mode (parsed with the SDK) and keeps
    them; ``on_event`` may react (a payment service replying, for instance)."""

    def __init__(self, on_event: Callable[[Any], Awaitable[None]] | None = None) -> None:
        self.events: list[Any] = []
        self.on_event = on_event
        self._arrived = asyncio.Event()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = await _read_body(receive)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            event = from_http_event(HTTPMessage(headers=headers, body=body))
        except Exception as exc:  # a broker answers 400 to what is not a CloudEvent
            await _respond(send, 400, {"error": str(exc)})
            return
        self.events.append(event)
        self._arrived.set()
        await _respond(send, 202)
        if self.on_event is not None:
            asyncio.get_running_loop().create_task(self.on_event(event))

    async def wait_for(self, event_type: str, *, timeout: float = 20.0) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for event in self.events:
                if event.get_type() == event_type:
                    return event
            remaining = deadline - loop.time()
            if remaining <= 0:
                seen = [e.get_type() for e in self.events]
                raise AssertionError(f"the broker received no {event_type!r} event within {timeout}s (got {seen})")
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)


class JsonService:
    """A JSON-over-HTTP service on loopback: ``routes`` maps a path to a function of the request's JSON body."""

    def __init__(self, routes: dict[str, Callable[[Any], Any]]) -> None:
        self.routes = routes
        self.calls: list[tuple[str, Any]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = await _read_body(receive)
        payload = json.loads(body) if body else None
        self.calls.append((scope["path"], payload))
        handler = self.routes.get(scope["path"])
        if handler is None:
            await _respond(send, 404, {"error": f"no route {scope['path']}"})
            return
        result = handler(payload)
        if isinstance(result, tuple):
            await _respond(send, result[0], result[1])
        else:
            await _respond(send, 200, result)


def cloudevent(event_type: str, source: str, data: Any, **extensions: Any) -> Any:
    attributes = {"type": event_type, "source": source, "id": f"{event_type}-{id(data)}", "specversion": "1.0"}
    binary = isinstance(data, bytes | bytearray)
    attributes["datacontenttype"] = "application/octet-stream" if binary else "application/json"
    attributes.update(extensions)
    return CloudEvent(attributes=attributes, data=data)


async def post_cloudevent(
    url: str, event_type: str, source: str, data: Any, *, binary: bool = False, **extensions: Any
) -> httpx.Response:
    """POST a CloudEvent built by the SDK (structured mode, or binary mode) to ``url``."""
    event = cloudevent(event_type, source, data, **extensions)
    message = to_binary_event(event) if binary else to_structured_event(event)
    async with httpx.AsyncClient() as client:
        return await client.post(url, headers=dict(message.headers), content=message.body)
