"""Saga: the examples' compensations run when a later step fails, newest first, and what they print is checked
against the seeds' listings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import edda
from edda import TerminalError, WorkflowContext, activity
from edda.testing import FakeClock
from tests.seed_examples.harnesses._registry import registry
from tests.seed_examples.harnesses._support import (
    Run,
    captured_stdout,
    edda_names,
    execute,
    harness_app,
    in_order,
    result_of,
    running,
    wait_status,
)

SCENARIOS, scenario = registry()
HERE = Path(__file__).resolve().parents[1]


@activity
async def charge_payment(ctx: WorkflowContext, *args: Any) -> None:
    """The step that fails in the examples ("Step 3: If this fails..."): a declined payment, not retried."""
    raise TerminalError("payment declined")


def _listing(example_id: str) -> list[str]:
    """The printed lines of a seed listing that shows an example's output (its narrative lines left out)."""
    manifest = json.loads((HERE / "manifest.json").read_text(encoding="utf-8"))
    entry = next(e for e in manifest["examples"] if e.get("output_of") == example_id)
    text = (HERE / entry["file"]).read_text(encoding="utf-8")
    lines = [line.split("#", 1)[0].strip() for line in text.splitlines() if line and not line.startswith("#")]
    return [line for line in lines if line.startswith(("✅", "❌"))]


@scenario("001_19_order_workflow", "004_17_order_workflow")
async def reverse_compensation(run: Run) -> None:
    module = await execute(run, {"charge_payment": charge_payment})
    with captured_stdout() as out:
        async with running(harness_app(run)) as app:
            record = await wait_status(app, await module.order_workflow.start(item1="item1", item2="item2"))
    assert record["status"] == "failed", dict(record)
    if run.example_id == "004_17_order_workflow":
        expected = _listing(run.example_id)
        assert len(expected) == 4, expected
    else:
        expected = [
            "Reserved item1",
            "Reserved item2",
            "Cancelled reservation for item2",
            "Cancelled reservation for item1",
        ]
    in_order(out.getvalue(), *expected)
    run.ok(f"charge_payment failed; printed in order: {expected}")


@scenario("004_19_saga_workflow")
async def multi_step(run: Run) -> None:
    module = await execute(run, edda_names("activity", "compensation", "on_failure", "workflow", "WorkflowContext"))
    with captured_stdout() as out:
        async with running(harness_app(run, clock=FakeClock())) as app:
            record = await wait_status(app, await module.saga_workflow.start())
    assert record["status"] == "failed" and "C failed!" in str(dict(record)), dict(record)
    in_order(out.getvalue(), "A: Execute", "B: Execute", "C: Execute", "B: Undo", "A: Undo")
    run.ok("step_c failed; B and A were undone in reverse order")


@scenario("003_35_cancel_reservation")
async def registered_compensation(run: Run) -> None:
    cancelled: list[str] = []

    async def cancel_api(reservation_id: str) -> None:
        cancelled.append(reservation_id)

    module = await execute(run, {**edda_names("compensation", "WorkflowContext"), "cancel_api": cancel_api})

    @activity
    async def reserve(ctx: WorkflowContext) -> dict:
        return {"reservation_id": "RES-35"}

    @edda.workflow
    async def harness_saga(ctx: WorkflowContext) -> None:
        result = await reserve(ctx)
        await edda.register_compensation(ctx, module.cancel_reservation, reservation_id=result["reservation_id"])
        await charge_payment(ctx)

    async with running(harness_app(run)) as app:
        record = await wait_status(app, await harness_saga.start())
    assert record["status"] == "failed" and cancelled == ["RES-35"], (dict(record), cancelled)
    run.ok("the @compensation function ran with the registered reservation id when the workflow failed")


@scenario("003_36_reserve_inventory")
async def on_failure_with_result(run: Run) -> None:
    # The snippet names release_inventory in @on_failure(...) before it defines it (the docstring lists the two
    # functions in that order). The harness supplies that name as a compensation that calls, when it runs, the
    # release_inventory the snippet defines below it; nothing of the snippet changes.
    cancelled: list[str] = []

    async def make_reservation(order_id: str) -> str:
        return f"RES-{order_id}"

    async def cancel_reservation(reservation_id: str) -> None:
        cancelled.append(reservation_id)

    holder: dict[str, Any] = {}

    @edda.compensation
    async def release_inventory(ctx: WorkflowContext, reservation_id: str) -> None:
        await holder["module"].release_inventory(ctx, reservation_id)

    module = await execute(
        run,
        {
            **edda_names("activity", "on_failure", "WorkflowContext"),
            "release_inventory": release_inventory,
            "make_reservation": make_reservation,
            "cancel_reservation": cancel_reservation,
        },
    )
    holder["module"] = module

    @edda.workflow
    async def harness_order(ctx: WorkflowContext, order_id: str) -> None:
        await module.reserve_inventory(ctx, order_id)
        await charge_payment(ctx)

    async with running(harness_app(run)) as app:
        record = await wait_status(app, await harness_order.start(order_id="O-36"))
    assert record["status"] == "failed" and cancelled == ["RES-O-36"], (dict(record), cancelled)
    run.ok("reserve_inventory's result (reservation_id) reached release_inventory when the workflow failed")


@scenario("003_37_order_workflow")
async def saga_decorator(run: Run) -> None:
    released: list[str] = []

    @activity
    async def reserve_inventory(ctx: WorkflowContext, order_id: str) -> dict:
        return {"reservation_id": f"RES-{order_id}"}

    @edda.compensation
    async def release_inventory(ctx: WorkflowContext, reservation_id: str) -> None:
        released.append(reservation_id)

    # @saga is the API reference's name for a workflow with compensations; it must come from edda like the rest.
    module = await execute(
        run,
        {
            **edda_names("saga", "register_compensation", "WorkflowContext"),
            "reserve_inventory": reserve_inventory,
            "release_inventory": release_inventory,
        },
    )
    async with running(harness_app(run)) as app:
        output = await result_of(app, await module.order_workflow.start(order_id="O-37"))
    assert output == {"reservation_id": "RES-O-37"} and released == [], (output, released)
    run.ok(f"@saga workflow registered its compensation and completed: {output} (nothing compensated)")
