"""Bad input across the public API: each call gets a clear error naming what was wrong, and nothing stored changes.

Run on every storage backend (memory, SQLite, and PostgreSQL/MySQL when EDDA_TEST_POSTGRES_URL / EDDA_TEST_MYSQL_URL
are set): text one database cannot store (NUL on PostgreSQL, lone surrogates anywhere) or would confuse (an id
ending with a space, which MySQL compares equal to the id without it) must be refused alike everywhere, before
anything is written, with ``InvalidInputError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from edda import (
    EddaApp,
    InvalidInputError,
    SerializationError,
    WorkflowContext,
    WorkflowNotFoundError,
    WorkflowStateError,
    activity,
    publish,
    wait_event,
    workflow,
)
from edda.exceptions import ConfigurationError
from edda.storage.memory import InMemoryStorage
from tests.integration.databases import temporary_database

BACKENDS = ["memory", "sqlite", "postgresql", "mysql"]
TABLES = ("edda_instances", "edda_history", "edda_channel_messages", "edda_channel_subscriptions", "edda_outbox")


@contextlib.contextmanager
def database_url(kind: str, directory: Path) -> Iterator[str]:
    """A fresh database for a module (made and dropped on an event loop of its own); server kinds skip without
    their URL."""
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


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "memory":
        yield "memory"
        return
    with database_url(request.param, tmp_path_factory.mktemp("bad-input")) as url:
        yield url


@pytest.fixture
async def app(backend: str) -> AsyncIterator[EddaApp]:
    if backend == "memory":
        app = EddaApp(service_name="test", storage=InMemoryStorage(), recovery_interval=0.05)
    else:
        app = EddaApp(service_name="test", db_url=backend, recovery_interval=0.05)
    await app.initialize()
    yield app
    await app.shutdown()


async def snapshot(app: EddaApp) -> Any:
    """Everything the storage holds, read from the storage itself."""
    storage: Any = app.storage
    if isinstance(storage, InMemoryStorage):
        return copy.deepcopy((storage._instances, storage._history, storage._messages, storage._subs, storage._outbox))
    from sqlalchemy import text

    tables = {}
    async with storage.engine.connect() as conn:
        for table in TABLES:
            tables[table] = sorted(repr(tuple(row)) for row in await conn.execute(text(f"SELECT * FROM {table}")))
    return tables


@workflow
async def typed_order(ctx: WorkflowContext, order_id: str, quantity: int, when: datetime | None = None) -> str:
    return order_id


@workflow
async def waits_forever(ctx: WorkflowContext) -> None:
    await wait_event(ctx, "never")


@activity
async def noop(ctx: WorkflowContext) -> None:
    return None


BAD_CALLS: list[tuple[str, Callable[[EddaApp], Awaitable[Any]], type[BaseException], str]] = [
    (
        "wrong type",
        lambda app: typed_order.start(order_id="A", quantity="two"),
        InvalidInputError,
        r"typed_order\(quantity=\.\.\.\): expected int, got str 'two'",
    ),
    ("missing argument", lambda app: typed_order.start(order_id="A"), InvalidInputError, "missing required argument"),
    (
        "unknown argument",
        lambda app: typed_order.start(order_id="A", quantity=1, colour="red"),
        InvalidInputError,
        "unknown argument",
    ),
    (
        "not serializable",
        lambda app: app.start_workflow("typed_order", {"order_id": object(), "quantity": 1}),
        InvalidInputError,
        "expected str",
    ),
    (
        "unknown workflow",
        lambda app: app.start_workflow("no_such_workflow", {}),
        WorkflowNotFoundError,
        "No workflow named 'no_such_workflow'",
    ),
    (
        "bad instance id",
        lambda app: typed_order.start(instance_id="", order_id="A", quantity=1),
        ValueError,
        "instance_id must be a non-empty string",
    ),
    (
        "huge instance id",
        lambda app: typed_order.start(instance_id="x" * 300, order_id="A", quantity=1),
        ValueError,
        "at most 255",
    ),
    ("cancel unknown", lambda app: app.cancel_workflow("missing-instance"), WorkflowNotFoundError, "missing-instance"),
    (
        "result of unknown",
        lambda app: app.wait_for_result("missing-instance", timeout=1),
        WorkflowNotFoundError,
        "missing-instance",
    ),
    (
        "event without id",
        lambda app: app.handle_cloudevent({"type": "t", "source": "s", "data": {}}),
        ValueError,
        "missing required attribute",
    ),
    (
        "event not serializable",
        lambda app: app.handle_cloudevent({"type": "t", "source": "s", "id": "1", "data": {"x": object()}}),
        SerializationError,
        "event data",
    ),
    ("publish bad channel", lambda app: publish(app, "", {"a": 1}), ValueError, "channel must be a non-empty"),
    ("publish long channel", lambda app: publish(app, "c" * 256, {"a": 1}), ValueError, "at most 255"),
    (
        "publish not serializable",
        lambda app: publish(app, "ok", {"a": {1, object()}}),
        SerializationError,
        "message data",
    ),
    ("find bad filter", lambda app: app.find_instances(input_filters={"a b": 1}), ValueError, "dotted path"),
    ("activity without ctx", lambda app: noop(None), TypeError, "WorkflowContext first"),
    # Text a database cannot store or would confuse: refused alike on every backend (issue 14, finding 5).
    (
        "NUL in an instance id",
        lambda app: typed_order.start(instance_id="a\x00b", order_id="A", quantity=1),
        InvalidInputError,
        r"instance id 'a\\x00b' contains a NUL character",
    ),
    (
        "lone surrogate in an instance id",
        lambda app: typed_order.start(instance_id="a\ud800", order_id="A", quantity=1),
        InvalidInputError,
        "lone UTF-16 surrogate",
    ),
    (
        "instance id ending with a space",
        lambda app: typed_order.start(instance_id="existing ", order_id="B", quantity=2),
        InvalidInputError,
        "ends with a space",
    ),
    (
        "NUL in an event type",
        lambda app: app.handle_cloudevent({"type": "a\x00", "source": "s", "id": "1"}),
        InvalidInputError,
        "channel name",
    ),
    (
        "NUL in an event's target",
        lambda app: app.handle_cloudevent({"type": "never", "source": "s", "id": "1", "eddainstanceid": "waiting\x00"}),
        InvalidInputError,
        "target instance id",
    ),
    (
        "event target ending with a space",
        lambda app: app.handle_cloudevent({"type": "never", "source": "s", "id": "1", "eddainstanceid": "waiting "}),
        InvalidInputError,
        "ends with a space",
    ),
    ("NUL in a channel", lambda app: publish(app, "jobs\x00", {"a": 1}), InvalidInputError, "NUL"),
    ("cancel with NUL", lambda app: app.cancel_workflow("wait\x00ing"), InvalidInputError, "NUL"),
    ("cancel ending with a space", lambda app: app.cancel_workflow("waiting "), InvalidInputError, "space"),
    ("get with a lone surrogate", lambda app: app.get_instance("\udc80"), InvalidInputError, "surrogate"),
    ("find with NUL", lambda app: app.find_instances(instance_id="a\x00"), InvalidInputError, "NUL"),
]


@pytest.mark.parametrize("what, call, error, message", BAD_CALLS, ids=[c[0] for c in BAD_CALLS])
async def test_bad_calls_are_rejected_and_store_nothing(
    app: EddaApp, what: str, call: Any, error: type[BaseException], message: str
) -> None:
    existing = await typed_order.start(instance_id="existing", order_id="E", quantity=1)
    await app.wait_for_result(existing, timeout=5)
    waiting = await waits_forever.start(instance_id="waiting")
    while (await app.get_instance(waiting)).status != "waiting_for_event":
        await asyncio.sleep(0.005)
    before = await snapshot(app)
    with pytest.raises(error, match=message):
        result = call(app)
        if asyncio.iscoroutine(result):
            await result
    await asyncio.sleep(0.01)
    assert await snapshot(app) == before, f"{what} changed stored state"


async def test_cancel_twice_and_cancel_finished(app: EddaApp) -> None:
    iid = await waits_forever.start()
    while (await app.get_instance(iid)).status != "waiting_for_event":
        await asyncio.sleep(0.005)
    await app.cancel_workflow(iid)
    before = await snapshot(app)
    with pytest.raises(WorkflowStateError, match="already finished with status 'cancelled'"):
        await app.cancel_workflow(iid)
    assert await snapshot(app) == before


@workflow
async def echo_text(ctx: WorkflowContext, text: str) -> dict[str, str]:
    return {"text": text, "key\x00": text[::-1]}


async def test_any_string_round_trips_as_a_value(app: EddaApp) -> None:
    # Values are stored as JSON, whose escapes carry NUL and lone surrogates: only identifiers are restricted.
    odd = "nul \x00, lone \ud800 surrogate, controls \x01\x7f\x85, trailing space "
    iid = await echo_text.start(text=odd)
    assert await app.wait_for_result(iid, timeout=10) == {"text": odd, "key\x00": odd[::-1]}
    assert (await app.get_instance(iid)).input_data == {"text": odd}


def test_bad_configuration_is_named() -> None:
    with pytest.raises(ConfigurationError, match="lease_timeout_seconds must be a positive number"):
        EddaApp(db_url="memory://", lease_timeout_seconds=-1)
    with pytest.raises(ConfigurationError, match="no scheme"):
        from edda.storage import open_storage

        open_storage("just-a-path.db")
