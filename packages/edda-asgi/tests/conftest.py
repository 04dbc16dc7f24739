"""Fixtures for edda-asgi tests: a real uvicorn server on loopback, CloudEvents from the official SDK, and the
storage backends (memory, SQLite, and PostgreSQL/MySQL when EDDA_TEST_POSTGRES_URL / EDDA_TEST_MYSQL_URL are set)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from cloudevents.core.bindings.http import HTTPMessage, to_binary, to_structured
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from sqlalchemy import text

from edda import EddaApp
from edda.storage.memory import InMemoryStorage
from tests.integration.databases import temporary_database

BACKENDS = ["memory", "sqlite", "postgresql", "mysql"]


class TestServer(uvicorn.Server):
    """uvicorn without signal handling (the test owns the process's signals)."""

    __test__ = False

    def capture_signals(self) -> contextlib.AbstractContextManager[None]:  # type: ignore[override]
        return contextlib.nullcontext()


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextlib.asynccontextmanager
async def serve(app: Any, *, lifespan: str = "on", **options: Any) -> AsyncIterator[str]:
    """Run ``app`` under uvicorn on a free loopback port in this event loop; yields its base URL."""
    sock = free_socket()
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan=lifespan, log_level="warning", access_log=False, **options)
    server = TestServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("uvicorn stopped before it started (see its log)")
            await asyncio.sleep(0.005)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)
        sock.close()


@contextlib.contextmanager
def serve_in_thread(app: Any, **options: Any) -> Iterator[tuple[str, asyncio.AbstractEventLoop]]:
    """Run ``app`` under uvicorn in a thread with its own event loop; yields the base URL and that loop."""
    sock = free_socket()
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan="on", log_level="warning", access_log=False, **options)
    server = TestServer(config)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(server.serve(sockets=[sock]),), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.005)
    try:
        yield f"http://127.0.0.1:{port}", loop
    finally:
        server.should_exit = True
        thread.join(30)
        loop.close()
        sock.close()


async def raw_request(url: str, data: bytes, *, timeout: float = 5.0) -> tuple[int, bytes]:
    """Send raw bytes to the server (for what well-behaved clients never do); returns the status and body of the
    answer, read by its Content-Length."""
    port = int(url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        async with asyncio.timeout(timeout):
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split()[1])
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            body = await reader.readexactly(length)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    return status, body


class CountingStorage(InMemoryStorage):
    """Memory storage that counts published channel messages (every accepted CloudEvent is one)."""

    def __init__(self) -> None:
        super().__init__()
        self.published = 0

    async def publish(self, message: Any, *, now: datetime) -> Any:
        result = await super().publish(message, now=now)
        self.published += 1
        return result


def make_event(event_type: str, data: Any = None, **attributes: Any) -> CloudEvent:
    """A CloudEvent from the official SDK (``source`` defaults to ``/tests``)."""
    attrs: dict[str, Any] = {"type": event_type, "source": "/tests", **attributes}
    return CloudEvent(attrs, data)


def structured(event: CloudEvent) -> HTTPMessage:
    return to_structured(event, JSONFormat())


def binary(event: CloudEvent) -> HTTPMessage:
    return to_binary(event, JSONFormat())


async def post(client: httpx.AsyncClient, url: str, message: HTTPMessage) -> httpx.Response:
    return await client.post(url, headers=message.headers, content=message.body)


async def wait_until(predicate: Callable[[], Any], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.005)


async def status_of(app: EddaApp, instance_id: str) -> str:
    record = await app.get_instance(instance_id)
    assert record is not None
    return record.status


async def wait_status(app: EddaApp, instance_id: str, status: str = "waiting_for_event", timeout: float = 5.0) -> None:
    """Wait until the instance reaches ``status`` (by default: waiting for an event)."""

    async def reached() -> bool:
        return await status_of(app, instance_id) == status

    await wait_until(reached, timeout)


_SQLITE_PROBE = """
import asyncio, sys
from edda import EddaApp
async def main():
    app = EddaApp(service_name="probe", db_url="sqlite:///" + sys.argv[1])
    await app.initialize()
    await app.shutdown()
asyncio.run(main())
"""


@functools.cache
def sqlite_problem() -> str | None:
    """Why SQLite storage (edda-storage-sql) cannot be used here, or ``None`` when it can."""
    try:
        import edda_storage_sql  # noqa: F401
    except ImportError:
        return "edda-storage-sql is not installed"
    with tempfile.TemporaryDirectory() as tmp:
        try:
            proc = subprocess.run(
                [sys.executable, "-c", _SQLITE_PROBE, str(Path(tmp) / "probe.db")],
                capture_output=True,
                text=True,
                timeout=60,
            )
        except subprocess.TimeoutExpired:
            return "edda-storage-sql is not usable yet: initializing a SQLite database hung"
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return f"edda-storage-sql is not usable yet: {last}"
    return None


@contextlib.contextmanager
def backend_url(kind: str, directory: Path) -> Iterator[str]:
    """The URL of a fresh database of ``kind`` (``memory://`` for memory), dropped afterwards; for fixtures that are
    not async (the database is made and dropped on an event loop of its own). Server kinds skip without their URL."""
    if kind == "memory":
        yield "memory://"
        return
    loop = asyncio.new_event_loop()
    database = temporary_database(kind, directory)
    try:
        url = loop.run_until_complete(database.__aenter__())
    except BaseException:
        loop.close()
        raise
    try:
        yield url
    finally:
        loop.run_until_complete(database.__aexit__(None, None, None))
        loop.close()


async def message_count(app: EddaApp) -> int:
    """How many channel messages (stored events) the app's storage holds, read from the storage itself."""
    storage: Any = app.storage
    if isinstance(storage, InMemoryStorage):
        return len(storage._messages)
    async with storage.engine.connect() as conn:
        return int((await conn.execute(text("SELECT COUNT(*) FROM edda_channel_messages"))).scalar_one())


class Kit:
    """Test helpers, reached through the ``kit`` fixture (test modules cannot import each other here)."""

    serve = staticmethod(serve)
    serve_in_thread = staticmethod(serve_in_thread)
    event = staticmethod(make_event)
    structured = staticmethod(structured)
    binary = staticmethod(binary)
    post = staticmethod(post)
    wait_until = staticmethod(wait_until)
    status_of = staticmethod(status_of)
    wait_status = staticmethod(wait_status)
    sqlite_problem = staticmethod(sqlite_problem)
    CountingStorage = CountingStorage
    free_socket = staticmethod(free_socket)
    raw_request = staticmethod(raw_request)
    backend_url = staticmethod(backend_url)
    message_count = staticmethod(message_count)


@pytest.fixture(scope="session")
def kit() -> type[Kit]:
    return Kit


@pytest.fixture
def storage() -> CountingStorage:
    return CountingStorage()


@pytest.fixture
def edda_app(storage: CountingStorage) -> EddaApp:
    """An EddaApp on memory storage, not yet initialized (the server's lifespan does it)."""
    return EddaApp(service_name="asgi-test", storage=storage, recovery_interval=0.05)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as c:
        yield c


@pytest.fixture(params=BACKENDS)
async def backend_app(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[EddaApp]:
    """An EddaApp, not yet initialized, on each storage backend in turn (a fresh database each)."""
    if request.param == "memory":
        yield EddaApp(service_name="asgi-backend", db_url="memory://", recovery_interval=0.05)
        return
    async with temporary_database(request.param, tmp_path) as url:
        yield EddaApp(service_name="asgi-backend", db_url=url, recovery_interval=0.05)
