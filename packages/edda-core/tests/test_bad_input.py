"""Bad input across the public API: each call gets a clear error naming what was wrong, and nothing stored changes."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable
from datetime import datetime
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


def snapshot(storage: InMemoryStorage) -> Any:
    return copy.deepcopy((storage._instances, storage._history, storage._messages, storage._subs, storage._outbox))


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
]


@pytest.mark.parametrize("what, call, error, message", BAD_CALLS, ids=[c[0] for c in BAD_CALLS])
async def test_bad_calls_are_rejected_and_store_nothing(
    app: EddaApp, storage: InMemoryStorage, what: str, call: Any, error: type[BaseException], message: str
) -> None:
    existing = await typed_order.start(instance_id="existing", order_id="E", quantity=1)
    await app.wait_for_result(existing, timeout=5)
    waiting = await waits_forever.start(instance_id="waiting")
    while (await app.get_instance(waiting)).status != "waiting_for_event":
        await asyncio.sleep(0.005)
    before = snapshot(storage)
    with pytest.raises(error, match=message):
        result = call(app)
        if asyncio.iscoroutine(result):
            await result
    await asyncio.sleep(0.01)
    assert snapshot(storage) == before, f"{what} changed stored state"


async def test_cancel_twice_and_cancel_finished(app: EddaApp, storage: InMemoryStorage) -> None:
    iid = await waits_forever.start()
    while (await app.get_instance(iid)).status != "waiting_for_event":
        await asyncio.sleep(0.005)
    await app.cancel_workflow(iid)
    before = snapshot(storage)
    with pytest.raises(WorkflowStateError, match="already finished with status 'cancelled'"):
        await app.cancel_workflow(iid)
    assert snapshot(storage) == before


def test_bad_configuration_is_named() -> None:
    with pytest.raises(ConfigurationError, match="lease_timeout_seconds must be a positive number"):
        EddaApp(db_url="memory://", lease_timeout_seconds=-1)
    with pytest.raises(ConfigurationError, match="no scheme"):
        from edda.storage import open_storage

        open_storage("just-a-path.db")
