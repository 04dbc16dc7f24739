"""Workflows the viewer's tests start, draw and cancel (imported with ``-m viewer_demo_workflows`` by the viewer and
worker processes, and by the tests themselves)."""

from __future__ import annotations

import enum

from pydantic import BaseModel, Field

from edda import (
    RetryPolicy,
    TerminalError,
    WorkflowContext,
    activity,
    compensation,
    on_failure,
    publish,
    receive,
    send_event_transactional,
    sleep,
    subscribe,
    wait_event,
    workflow,
)


class Tier(enum.Enum):
    STANDARD = "standard"
    GOLD = "gold"


class Address(BaseModel):
    street: str
    city: str = Field(description="the city to ship to")


class Customer(BaseModel):
    name: str
    address: Address
    tier: Tier = Tier.STANDARD


class Line(BaseModel):
    sku: str
    qty: int = 1


@activity
async def pack(ctx: WorkflowContext, lines: list[Line]) -> int:
    return sum(line.qty for line in lines)


@activity
async def bill(ctx: WorkflowContext, customer: Customer, units: int) -> str:
    return f"{customer.name}/{customer.address.city}/{customer.tier.value}/{units}"


@workflow
async def viewer_demo_ship(
    ctx: WorkflowContext,
    order_id: str,
    customer: Customer,
    lines: list[Line],
    express: bool = False,
    note: str | None = None,
) -> dict:
    """Ship an order: pack its lines, then bill the customer."""
    units = await pack(ctx, lines)
    receipt = await bill(ctx, customer, units)
    return {"order_id": order_id, "receipt": receipt, "express": express, "note": note}


@compensation
async def viewer_demo_release(ctx: WorkflowContext, item: str) -> None:
    return None


@activity
@on_failure(viewer_demo_release)
async def hold_item(ctx: WorkflowContext, item: str) -> str:
    return f"held {item}"


@workflow
async def viewer_demo_hold(ctx: WorkflowContext, item: str) -> str:
    """Hold an item, then wait for an event that never comes (cancel it to release the item)."""
    await hold_item(ctx, item)
    await wait_event(ctx, "viewer.demo.never")
    return "released"


@activity
async def charge(ctx: WorkflowContext, amount: float) -> str:
    if amount > 100:
        raise TerminalError(f"amount {amount} over the limit")
    return "ok"


@workflow
async def viewer_demo_charge(ctx: WorkflowContext, customer_id: str, amount: float) -> str:
    """Charge a customer; amounts over 100 fail."""
    await hold_item(ctx, customer_id)
    return await charge(ctx, amount)


_attempts: dict[str, int] = {}


@activity(retry_policy=RetryPolicy(max_attempts=3, initial_interval=0.01, backoff_coefficient=1.0))
async def flaky(ctx: WorkflowContext, key: str) -> str:
    _attempts[key] = _attempts.get(key, 0) + 1
    if _attempts[key] < 3:
        raise ConnectionError(f"try {_attempts[key]} failed")
    return "third time lucky"


@activity
async def notify(ctx: WorkflowContext, key: str) -> str:
    await send_event_transactional(ctx, "viewer.demo.notified", "viewer-demo", {"key": key})
    return "queued"


@workflow
async def viewer_demo_tour(ctx: WorkflowContext, key: str) -> str:
    """Retries, a timer, an outbox event, a channel message and a received event, in that order."""
    await flaky(ctx, key)
    await sleep(ctx, 0.01)
    await notify(ctx, key)
    await subscribe(ctx, f"viewer.demo.{key}")
    await publish(ctx, f"viewer.demo.{key}", {"hello": key})
    message = await receive(ctx, f"viewer.demo.{key}")
    event = await wait_event(ctx, f"viewer.demo.go.{key}")
    return f"{message.data['hello']}:{event.data['go']}"
