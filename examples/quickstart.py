"""Quickstart: an order workflow on the embedded SQLite default, end to end.

    uv run python examples/quickstart.py

It runs an order saga twice: once successfully, once with a declined payment so the completed steps are
compensated in reverse order. Then it starts the first order again with the same instance id, which returns the
recorded result without running anything twice. State lives in ``quickstart.db`` (override with EDDA_DB_URL).
"""

from __future__ import annotations

import asyncio
import os

from edda import (
    EddaApp,
    TerminalError,
    WorkflowContext,
    WorkflowFailedError,
    activity,
    compensation,
    on_failure,
    workflow,
)


@compensation
async def release_inventory(ctx: WorkflowContext, item: str) -> None:
    print(f"    ↩ released {item}")


@activity
@on_failure(release_inventory)
async def reserve_inventory(ctx: WorkflowContext, item: str) -> dict:
    print(f"    ✓ reserved {item}")
    return {"item": item, "reserved": True}


@activity
async def charge_payment(ctx: WorkflowContext, order_id: str, amount: float) -> dict:
    if amount > 1000:
        raise TerminalError(f"payment of {amount} declined")  # not retried
    print(f"    ✓ charged {amount:.2f} for {order_id}")
    return {"transaction_id": f"TX-{order_id}"}


@activity
async def ship(ctx: WorkflowContext, order_id: str) -> str:
    print(f"    ✓ shipped {order_id}")
    return f"TRACK-{order_id}"


@workflow
async def order_workflow(ctx: WorkflowContext, order_id: str, items: list[str], amount: float) -> dict:
    for item in items:
        await reserve_inventory(ctx, item)
    payment = await charge_payment(ctx, order_id, amount)
    tracking = await ship(ctx, order_id)
    return {"order_id": order_id, "transaction": payment["transaction_id"], "tracking": tracking}


async def main() -> None:
    db_url = os.environ.get("EDDA_DB_URL", "sqlite:///quickstart.db")
    async with EddaApp(service_name="quickstart", db_url=db_url) as app:
        run = os.urandom(3).hex()

        print(f"1. order ORD-{run}-A: everything succeeds")
        first = await order_workflow.start(
            instance_id=f"ORD-{run}-A", order_id=f"ORD-{run}-A", items=["book", "lamp"], amount=42.0
        )
        result = await app.wait_for_result(first, timeout=30)
        print(f"   result: {result}")

        print(f"2. order ORD-{run}-B: the payment is declined, so the reservations are undone, newest first")
        second = await order_workflow.start(
            instance_id=f"ORD-{run}-B", order_id=f"ORD-{run}-B", items=["desk", "chair"], amount=5000.0
        )
        try:
            await app.wait_for_result(second, timeout=30)
        except WorkflowFailedError as exc:
            print(f"   failed as expected: {exc.error_type}: {exc.error_message}")

        print(f"3. starting ORD-{run}-A again with the same id runs nothing twice:")
        again = await order_workflow.start(instance_id=first, order_id=first, items=["book", "lamp"], amount=42.0)
        print(f"   same instance: {again == first}; result: {await app.wait_for_result(again, timeout=30)}")

        history = await app.storage.get_history(first)
        print(f"4. recorded history of {first}:")
        for event in history:
            print(f"    #{event.seq:<4} {event.event_type:<21} {event.activity_id}")
        record = await app.get_instance(second)
        print(f"5. {second} ended with status {record.status!r}")


if __name__ == "__main__":
    asyncio.run(main())
