"""End to end through an EddaApp: activities write events with send_event_transactional, the app's relayer publishes
them to a real receiver on loopback."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from edda import EddaApp, RetryPolicy, TerminalError, WorkflowContext, activity, send_event_transactional, workflow
from edda.hooks import HooksBase
from edda.outbox import OutboxOptions

attempts: dict[str, int] = {}


@activity
async def announce(ctx: WorkflowContext, order_id: str, step: int) -> int:
    await send_event_transactional(ctx, "order.step", "order-service", {"order_id": order_id, "step": step})
    return step


@workflow
async def stepping_order(ctx: WorkflowContext, order_id: str, steps: int) -> int:
    for step in range(steps):
        await announce(ctx, order_id, step)
    return steps


@activity
async def send_then_fail(ctx: WorkflowContext, order_id: str) -> None:
    await send_event_transactional(ctx, "order.phantom", "order-service", {"order_id": order_id})
    raise TerminalError("payment declined")


@workflow
async def rolled_back(ctx: WorkflowContext, order_id: str) -> str:
    try:
        await send_then_fail(ctx, order_id)
    except TerminalError:
        pass
    await announce(ctx, order_id, 99)
    return "done"


@activity(retry_policy=RetryPolicy(max_attempts=3, initial_interval=0.01))
async def flaky_sender(ctx: WorkflowContext, order_id: str) -> None:
    attempts[order_id] = attempts.get(order_id, 0) + 1
    await send_event_transactional(ctx, "order.retried", "order-service", {"attempt": attempts[order_id]})
    if attempts[order_id] < 3:
        raise ConnectionError("flaky")


@workflow
async def retried_order(ctx: WorkflowContext, order_id: str) -> None:
    await flaky_sender(ctx, order_id)


@activity
async def send_bytes(ctx: WorkflowContext) -> None:
    await send_event_transactional(ctx, "blob.made", "blob-service", b"\x00\xffraw", content_type="application/x-proto")


@workflow
async def bytes_workflow(ctx: WorkflowContext) -> None:
    await send_bytes(ctx)


def make_app(broker: str) -> EddaApp:
    return EddaApp(service_name="outbox-app", db_url="memory://", outbox_enabled=True, broker_url=broker)


async def test_workflow_events_arrive_in_order(kit: Any, receiver: Any, broker: str) -> None:
    async with make_app(broker) as app:
        ids = [await stepping_order.start(order_id=f"O-{i}", steps=5) for i in range(10)]
        for iid in ids:
            assert await app.wait_for_result(iid, timeout=10) == 5
        await kit.wait_until(lambda: len(receiver.accepted) == 50)

        async def recorded() -> bool:
            return all(e.status == "published" for e in await app.storage.list_outbox(limit=100))

        await kit.wait_until(recorded)
        outbox = await app.storage.list_outbox(limit=100)
    assert {e.status for e in outbox} == {"published"}
    assert {e.event_id for e in outbox} == set(receiver.ids())  # the CloudEvent id is the outbox event id
    for i in range(10):
        steps = [d.event["data"]["step"] for d in receiver.accepted if d.event["data"]["order_id"] == f"O-{i}"]
        assert steps == [0, 1, 2, 3, 4]
    first = receiver.accepted[0].event
    assert (first["type"], first["source"], first["specversion"]) == ("order.step", "order-service", "1.0")


async def test_events_go_out_right_after_commit(kit: Any, receiver: Any, broker: str) -> None:
    """The app wakes its relayer after each commit: no waiting for the 1 s poll."""
    async with make_app(broker) as app:
        await kit.wait_until(lambda: app._relayer is not None and app._relayer.running)
        await asyncio.sleep(0.05)  # the relayer is now idle, waiting up to its poll interval (1 s)
        started = time.monotonic()
        iid = await stepping_order.start(order_id="fast", steps=1)
        await app.wait_for_result(iid, timeout=5)
        await kit.wait_until(lambda: receiver.accepted, timeout=5)
        assert time.monotonic() - started < 0.5


async def test_rolled_back_activity_produces_no_event(kit: Any, receiver: Any, broker: str) -> None:
    async with make_app(broker) as app:
        iid = await rolled_back.start(order_id="R-1")
        assert await app.wait_for_result(iid, timeout=5) == "done"
        await kit.wait_until(lambda: receiver.accepted)
        outbox = await app.storage.list_outbox()
    assert [e.event_type for e in outbox] == ["order.step"]
    assert [d.event["type"] for d in receiver.requests] == ["order.step"]


async def test_only_the_committed_attempt_of_a_retried_activity_sends(kit: Any, receiver: Any, broker: str) -> None:
    async with make_app(broker) as app:
        iid = await retried_order.start(order_id="Q-1")
        await app.wait_for_result(iid, timeout=5)
        await kit.wait_until(lambda: receiver.accepted)
        outbox = await app.storage.list_outbox()
    assert attempts["Q-1"] == 3
    assert len(outbox) == 1 and outbox[0].data == {"attempt": 3}
    assert [d.event["data"] for d in receiver.requests] == [{"attempt": 3}]


async def test_bytes_are_published_in_binary_mode(kit: Any, receiver: Any, broker: str) -> None:
    async with make_app(broker) as app:
        await app.wait_for_result(await bytes_workflow.start(), timeout=5)
        await kit.wait_until(lambda: receiver.accepted)
    delivery = receiver.accepted[0]
    assert delivery.body == b"\x00\xffraw"
    assert delivery.headers["content-type"] == "application/x-proto"
    assert delivery.headers["ce-type"] == "blob.made" and delivery.headers["ce-specversion"] == "1.0"


async def test_events_committed_before_shutdown_go_out_after_restart(kit: Any, receiver: Any, broker: str) -> None:
    """Receiver refuses while the first app runs; a new relayer on the same storage delivers them later."""

    async def closed(delivery: Any, n: int) -> int:
        return 503

    receiver.behaviour = closed
    app = make_app(broker)
    async with app:
        iid = await stepping_order.start(order_id="later", steps=2)
        await app.wait_for_result(iid, timeout=5)
        await kit.wait_until(lambda: receiver.requests)
    storage = app.storage
    receiver.behaviour = None
    async with EddaApp(service_name="again", storage=storage, outbox_enabled=True, broker_url=broker):
        await kit.wait_until(lambda: len(receiver.accepted) == 2, timeout=15)
    assert [d.event["data"]["step"] for d in receiver.accepted] == [0, 1]


async def test_operators_resend_and_skip_through_the_app(kit: Any, receiver: Any, broker: str) -> None:
    """``outbox_options`` reach the app's relayer; a failed event is listed, re-sent and skipped through the app."""
    import pytest

    from edda import OutboxEventNotFoundError, OutboxStateError
    from edda.outbox import OutboxOptions

    accepting = {"on": False}

    async def gated(delivery: Any, n: int) -> int:
        return 200 if accepting["on"] else 503

    receiver.behaviour = gated
    options = OutboxOptions(max_retries=0, poll_interval=0.05)
    async with EddaApp(
        service_name="ops", db_url="memory://", outbox_enabled=True, broker_url=broker, outbox_options=options
    ) as app:
        assert app._relayer.max_retries == 0 and app._relayer.poll_interval == 0.05
        iid = await stepping_order.start(order_id="OPS", steps=2)
        await app.wait_for_result(iid, timeout=5)

        async def one_failed() -> bool:
            return len(await app.list_outbox_events(status="failed")) == 1

        await kit.wait_until(one_failed)
        [failed] = await app.list_outbox_events(status="failed")
        [held] = await app.list_outbox_events(status="pending")  # the second step's event waits behind it
        assert failed.data == {"order_id": "OPS", "step": 0} and held.data == {"order_id": "OPS", "step": 1}
        assert "HTTP 503" in (failed.last_error or "")

        accepting["on"] = True
        await app.resend_outbox_event(failed.event_id)

        async def all_published() -> bool:
            return len(await app.list_outbox_events(status="published")) == 2

        await kit.wait_until(all_published)
        assert [d.event["data"]["step"] for d in receiver.accepted] == [0, 1]

        with pytest.raises(OutboxStateError, match="is published; only expired or failed or skipped"):
            await app.resend_outbox_event(failed.event_id)
        with pytest.raises(OutboxStateError, match="is published; only failed or pending"):
            await app.skip_outbox_event(failed.event_id)
        with pytest.raises(OutboxEventNotFoundError, match="No outbox event 'nope'"):
            await app.resend_outbox_event("nope")
        with pytest.raises(ValueError, match="status must be one of"):
            await app.list_outbox_events(status="done")


def test_outbox_options_are_checked() -> None:
    import pytest

    from edda import ConfigurationError
    from edda.outbox import OutboxOptions

    with pytest.raises(ConfigurationError, match="outbox_options must be an edda.outbox.OutboxOptions"):
        EddaApp(db_url="memory://", outbox_options={"max_retries": 3})  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="max_retries must be an int >= 0 or None"):
        OutboxOptions(max_retries=-1)


async def test_hooks_see_every_delivery_outcome(kit: Any, receiver: Any, broker: str) -> None:
    """Failures are visible where hooks and metrics can see them, not only in relayer.counts."""

    async def first_two_fail_then_refuse(delivery: Any, n: int) -> int:
        if delivery.event["data"]["step"] == 0:
            return 503 if n <= 2 else 200
        return 400  # a permanent refusal: failed at once

    receiver.behaviour = first_two_fail_then_refuse
    seen: list[tuple[str, str, int, bool]] = []

    class Seen(HooksBase):
        async def on_outbox_delivery(self, event: Any, outcome: str, error: str | None) -> None:
            seen.append((event.data["step"], outcome, event.attempts, bool(error)))

    options = OutboxOptions(poll_interval=0.05, backoff_base=0.01, backoff_max=0.02)
    async with EddaApp(
        service_name="hooked", db_url="memory://", outbox_enabled=True, broker_url=broker, outbox_options=options,
        hooks=Seen(),
    ) as app:  # fmt: skip
        iid = await stepping_order.start(order_id="HOOK", steps=2)
        await app.wait_for_result(iid, timeout=5)
        await kit.wait_until(lambda: len(seen) == 4)
        assert seen == [
            (0, "retried", 0, True),
            (0, "retried", 1, True),
            (0, "published", 2, True),
            (1, "failed", 0, True),
        ]
        assert app._relayer.counts == {"published": 1, "retried": 2, "failed": 1, "expired": 0}
