"""Fixtures for edda-opentelemetry tests: the SDK's in-memory span exporter and metric reader behind real providers,
hooks recording to them, and an EddaApp on a real SQLite file.

Helpers are reached through the ``kit`` fixture (test modules cannot import each other under importlib mode).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from edda import EddaApp
from edda_opentelemetry import OpenTelemetryHooks


class Spans:
    """The finished spans of one test, with lookups by name."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))

    @property
    def all(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def named(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.all if s.name == name]

    def one(self, name: str) -> ReadableSpan:
        found = self.named(name)
        assert len(found) == 1, f"expected one span {name!r}, got {[s.name for s in self.all]}"
        return found[0]

    def of_instance(self, instance_id: str) -> list[ReadableSpan]:
        return [s for s in self.all if (s.attributes or {}).get("edda.workflow.instance_id") == instance_id]


class Metrics:
    """The metrics recorded in one test: ``value(name, **attributes)`` sums the matching points."""

    def __init__(self) -> None:
        self.reader = InMemoryMetricReader()
        self.provider = MeterProvider(metric_readers=[self.reader])

    def points(self, name: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        found: list[Any] = []
        for resource in data.resource_metrics if data is not None else []:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        found.extend(metric.data.data_points)
        return found

    def value(self, name: str, **attributes: str) -> float:
        """The sum of a counter's points, or the count of a histogram's, whose attributes include ``attributes``
        (keyword ``workflow_name`` means ``edda.workflow.name``, ``error_type`` means ``error.type``)."""
        wanted = {_attribute_name(k): v for k, v in attributes.items()}
        total = 0.0
        for point in self.points(name):
            if wanted.items() <= dict(point.attributes or {}).items():
                total += point.count if hasattr(point, "count") else point.value
        return total


def _attribute_name(keyword: str) -> str:
    return "error.type" if keyword == "error_type" else "edda." + keyword.replace("_", ".", 1)


def hex_id(value: int, width: int = 16) -> str:
    return format(value, f"0{width}x")


def traceparent_of(span: ReadableSpan) -> str:
    """The W3C traceparent naming ``span``."""
    context = span.get_span_context()
    assert context is not None
    return f"00-{hex_id(context.trace_id, 32)}-{hex_id(context.span_id)}-{int(context.trace_flags):02x}"


def parent_id(span: ReadableSpan) -> int | None:
    return None if span.parent is None else span.parent.span_id


def span_id(span: ReadableSpan) -> int:
    context = span.get_span_context()
    assert context is not None
    return context.span_id


def trace_id(span: ReadableSpan) -> int:
    context = span.get_span_context()
    assert context is not None
    return context.trace_id


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


async def wait_status(app: EddaApp, instance_id: str, status: str, timeout: float = 10.0) -> None:
    async def reached() -> bool:
        record = await app.get_instance(instance_id)
        return record is not None and record.status == status

    await wait_until(reached, timeout)


@contextlib.asynccontextmanager
async def serve(asgi_app: Any) -> AsyncIterator[str]:
    """Serve ``asgi_app`` with uvicorn on a free loopback port in this event loop; yields its base URL."""
    uvicorn = pytest.importorskip("uvicorn", reason="the HTTP tests need uvicorn")

    class QuietServer(uvicorn.Server):  # type: ignore[name-defined,misc]
        def capture_signals(self) -> contextlib.AbstractContextManager[None]:
            return contextlib.nullcontext()

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = QuietServer(uvicorn.Config(asgi_app, lifespan="off", log_level="warning", access_log=False))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            assert not task.done(), "uvicorn stopped before it started"
            await asyncio.sleep(0.005)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)
        sock.close()


class Receiver:
    """A CloudEvents receiver (a raw ASGI app) that records every request and answers 202; ``events()`` parses
    them with the official ``cloudevents`` SDK, whatever the content mode."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.status = 202

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.requests.append(({k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}, body))
        await send({"type": "http.response.start", "status": self.status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    def events(self) -> list[Any]:
        http = pytest.importorskip("cloudevents.core.bindings.http", reason="needs the cloudevents SDK (2.x)")
        return [http.from_http_event(http.HTTPMessage(headers, body)) for headers, body in self.requests]

    def by_type(self, event_type: str) -> Any:
        found = [e for e in self.events() if e.get_type() == event_type]
        assert len(found) == 1, f"expected one {event_type!r} event, got {[e.get_type() for e in self.events()]}"
        return found[0]


class Kit:
    hex_id = staticmethod(hex_id)
    traceparent_of = staticmethod(traceparent_of)
    parent_id = staticmethod(parent_id)
    span_id = staticmethod(span_id)
    trace_id = staticmethod(trace_id)
    wait_until = staticmethod(wait_until)
    wait_status = staticmethod(wait_status)
    serve = staticmethod(serve)
    Receiver = Receiver


@pytest.fixture(scope="session")
def kit() -> type[Kit]:
    return Kit


@pytest.fixture
def spans() -> Iterator[Spans]:
    recorded = Spans()
    yield recorded
    recorded.provider.shutdown()


@pytest.fixture
def metrics() -> Iterator[Metrics]:
    recorded = Metrics()
    yield recorded
    recorded.provider.shutdown()


@pytest.fixture
def hooks(spans: Spans, metrics: Metrics) -> OpenTelemetryHooks:
    return OpenTelemetryHooks(
        service_name="otel-tests", enable_metrics=True, tracer_provider=spans.provider, meter_provider=metrics.provider
    )


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """A real SQLite file (edda-storage-sql)."""
    pytest.importorskip("edda_storage_sql", reason='these tests run on SQLite: pip install "edda-storage-sql[sqlite]"')
    return f"sqlite:///{tmp_path / 'otel.db'}"


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
async def any_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh SQLite file, PostgreSQL or MySQL database (the servers when EDDA_TEST_POSTGRES_URL /
    EDDA_TEST_MYSQL_URL are set; skipped with how to set them otherwise)."""
    pytest.importorskip("edda_storage_sql", reason='these tests need edda-storage-sql: pip install "edda-storage-sql"')
    databases = pytest.importorskip(
        "tests.integration.databases", reason="needs the repository's tests/integration helpers (run from its root)"
    )
    async with databases.temporary_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
async def app(db_url: str, hooks: OpenTelemetryHooks) -> AsyncIterator[EddaApp]:
    edda_app = EddaApp(service_name="otel-tests", db_url=db_url, hooks=hooks)
    await edda_app.initialize()
    try:
        yield edda_app
    finally:
        await edda_app.shutdown()
