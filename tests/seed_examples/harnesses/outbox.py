"""Transactions and the outbox: events written with ``send_event_transactional`` must reach a loopback broker
(a CloudEvents receiver parsing with the SDK) through the outbox relayer, and rows written through ``ctx.session``
must be committed with them."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel

import edda
from edda import WorkflowContext
from tests.seed_examples.harnesses._registry import registry
from tests.seed_examples.harnesses._support import (
    Run,
    edda_names,
    execute,
    harness_app,
    result_of,
    running,
)
from tests.seed_examples.harnesses.standins import Broker, serve

SCENARIOS, scenario = registry()


class InventoryReserved(BaseModel):
    order_id: str
    reservation_id: str


def _in_workflow(call: Any) -> edda.Workflow:
    async def harness_call(ctx: WorkflowContext, args: list[Any]) -> Any:
        return await call(ctx, *args)

    return edda.workflow(harness_call)


@scenario("001_22_create_order", "003_40_reserve_inventory", "003_41_reserve_inventory_typed")
async def outbox_event(run: Run) -> None:
    module = await execute(
        run,
        {
            **edda_names("activity", "WorkflowContext", "send_event_transactional"),
            "uuid": uuid,
            "InventoryReserved": InventoryReserved,
        },
    )
    activity_fn = next(v for k, v in vars(module).items() if isinstance(v, edda.Activity))
    expected_type = "order.created" if "order.created" in run.text else "inventory.reserved"
    broker = Broker()
    async with serve(broker, lifespan="off") as broker_url:
        async with running(harness_app(run, outbox_enabled=True, broker_url=broker_url)) as app:
            output = await result_of(app, await _in_workflow(activity_fn).start(args=["O-22"]))
            event = await broker.wait_for(expected_type)
    assert event.get_source() == "order-service", event.get_source()
    data = event.get_data()
    assert data["order_id"] == "O-22", data
    if "reservation_id" in output:
        assert data["reservation_id"] == output["reservation_id"], (data, output)
    run.ok(f"{activity_fn.name} returned {output}; the relayer published {expected_type} {data} to the broker")


def _orm_model(name: str, columns: dict[str, Any]) -> tuple[type, Any]:
    from sqlalchemy import Column, Float, String
    from sqlalchemy.orm import declarative_base

    base = declarative_base()
    attrs: dict[str, Any] = {"__tablename__": f"seed_{name.lower()}s"}
    attrs["order_id"] = Column(String, primary_key=True)
    attrs["amount"] = Column(Float)
    return type(name, (base,), attrs), base


def _sync_url(url: str) -> str:
    if url.startswith("postgresql"):
        return url.replace("postgresql://", "postgresql+psycopg://", 1)
    return url


@scenario("001_23_process_payment", "003_11_create_order")
async def session_and_outbox(run: Run) -> None:
    from sqlalchemy import select
    from sqlalchemy.ext.asyncio import create_async_engine

    model_name = "Payment" if "Payment(" in run.text else "Order"
    model, base = _orm_model(model_name, {})
    async_url = run.db_url.replace("sqlite:///", "sqlite+aiosqlite:///").replace(
        "postgresql://", "postgresql+asyncpg://"
    )
    engine = create_async_engine(async_url)
    async with engine.begin() as conn:  # the application's own table, in the same database as Edda's
        await conn.run_sync(base.metadata.create_all)
    module = await execute(
        run, {**edda_names("activity", "WorkflowContext", "send_event_transactional"), model_name: model}
    )
    activity_fn = next(v for v in vars(module).values() if isinstance(v, edda.Activity))
    event_type = "payment.processed" if model_name == "Payment" else "order.created"
    broker = Broker()
    async with serve(broker, lifespan="off") as broker_url:
        async with running(harness_app(run, outbox_enabled=True, broker_url=broker_url)) as app:
            output = await result_of(app, await _in_workflow(activity_fn).start(args=["O-23", 12.5]))
            event = await broker.wait_for(event_type)
    async with engine.connect() as conn:
        rows = (await conn.execute(select(model.__table__))).all()
    await engine.dispose()
    assert [tuple(r) for r in rows] == [("O-23", 12.5)], rows
    assert event.get_data() == {"order_id": "O-23", "amount": 12.5}, event.get_data()
    run.ok(
        f"{activity_fn.name} -> {output}: the {model_name} row and the outbox event committed together; "
        f"the broker received {event_type}"
    )


@scenario("001_24_edda_app")
async def outbox_without_broker(run: Run) -> None:
    module = await execute(run)
    app: edda.EddaApp = module.app

    @edda.activity
    async def harness_create(ctx: WorkflowContext, order_id: str) -> str:
        await edda.send_event_transactional(ctx, "order.created", "order-service", {"order_id": order_id})
        return order_id

    async with running(app):
        output = await result_of(app, await _in_workflow(harness_create).start(args=["O-24"]))
    run.ok(f"an app with outbox_enabled=True and no broker_url ran an activity writing to the outbox: {output}")
