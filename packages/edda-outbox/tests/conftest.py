"""Fixtures for edda-outbox tests: a real HTTP receiver on loopback (uvicorn) and outbox rows written through the
storage SPI."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import uvicorn

from edda.storage import open_storage
from edda.storage.memory import InMemoryStorage
from edda.storage.records import Fence, NewInstance, NewOutboxEvent, StepCommit


@dataclass
class Delivery:
    """One request the receiver got."""

    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)

    @property
    def structured(self) -> bool:
        return self.headers.get("content-type", "").startswith("application/cloudevents+json")

    @property
    def event(self) -> dict[str, Any]:
        """The CloudEvent's attributes and data, whatever the mode."""
        if self.structured:
            return json.loads(self.body)
        attrs = {k[3:]: v for k, v in self.headers.items() if k.startswith("ce-")}
        return attrs | {"datacontenttype": self.headers.get("content-type"), "data": self.body}

    @property
    def id(self) -> str:
        return self.event["id"]


Behaviour = Callable[[Delivery, int], Awaitable[Any]]


class Receiver:
    """A CloudEvents receiver (a raw ASGI app): records every request, answers what ``behaviour`` says.

    ``behaviour(delivery, n)`` (n = 1-based count of requests for that event id) returns a status code or
    ``(status, headers)``; it may sleep to be slow. The default accepts everything with 202.
    """

    def __init__(self) -> None:
        self.requests: list[Delivery] = []
        self.accepted: list[Delivery] = []
        self.behaviour: Behaviour | None = None
        self._counts: dict[str, int] = {}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        delivery = Delivery(headers, body)
        self.requests.append(delivery)
        n = self._counts[delivery.id] = self._counts.get(delivery.id, 0) + 1
        answer: Any = 202
        if self.behaviour is not None:
            answer = await self.behaviour(delivery, n)
        status, extra = answer if isinstance(answer, tuple) else (answer, {})
        if 200 <= status < 300:
            self.accepted.append(delivery)
        raw = [(k.encode(), str(v).encode()) for k, v in extra.items()]
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": b""})

    def ids(self, *, accepted: bool = True) -> list[str]:
        return [d.id for d in (self.accepted if accepted else self.requests)]


class QuietServer(uvicorn.Server):
    def capture_signals(self) -> contextlib.AbstractContextManager[None]:  # type: ignore[override]
        return contextlib.nullcontext()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.asynccontextmanager
async def serve(app: Any, port: int | None = None) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn on loopback in this event loop (on ``port``, or a free one)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port or 0))
    server = QuietServer(uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            assert not task.done(), "uvicorn stopped before it started"
            await asyncio.sleep(0.005)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/events"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)
        sock.close()


async def put_events(
    storage: Any, instance_id: str, events: list[NewOutboxEvent], *, now: datetime | None = None
) -> None:
    """Commit outbox rows for ``instance_id`` through the storage SPI (as a workflow step would)."""
    now = now or datetime.now(UTC)
    record, _ = await storage.create_instance(
        NewInstance(
            instance_id=instance_id,
            workflow_name="outbox_test",
            input_data={},
            owner_id="writer",
            now=now,
            lease_expires_at=now + timedelta(minutes=5),
        )
    )
    fence = Fence(instance_id=instance_id, worker_id="writer", epoch=record.lease_epoch)
    await storage.commit_step(StepCommit(fence=fence, now=now, outbox=tuple(events)))


def new_event(event_id: str, data: Any = None, **options: Any) -> NewOutboxEvent:
    return NewOutboxEvent(
        event_id=event_id,
        event_type=options.pop("event_type", "test.happened"),
        event_source="/tests",
        data=data,
        **options,
    )


async def wait_until(predicate: Callable[[], Any], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.005)


class Kit:
    """Test helpers, reached through the ``kit`` fixture (test modules cannot import each other here)."""

    serve = staticmethod(serve)
    free_port = staticmethod(free_port)
    put_events = staticmethod(put_events)
    new_event = staticmethod(new_event)
    wait_until = staticmethod(wait_until)


@pytest.fixture(scope="session")
def kit() -> type[Kit]:
    return Kit


@pytest.fixture(params=["memory", "sqlite"])
async def storage(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[Any]:
    """The storage the relayer reads: memory, and SQLite when edda-storage-sql is installed."""
    if request.param == "memory":
        yield InMemoryStorage()
        return
    pytest.importorskip("edda_storage_sql", reason="SQLite outbox tests need edda-storage-sql[sqlite]")
    sql = open_storage(f"sqlite:///{tmp_path / 'outbox.db'}")
    await sql.initialize()
    try:
        yield sql
    finally:
        await sql.close()


@pytest.fixture
def receiver() -> Receiver:
    return Receiver()


@pytest.fixture
async def broker(receiver: Receiver) -> AsyncIterator[str]:
    """The URL of a running receiver."""
    async with serve(receiver) as url:
        yield url
