"""App configuration, hooks and queries: the app the example builds is initialized and a probe workflow runs on it
(PostgreSQL URLs in the examples open the run's database, see _support.redirect_postgresql); hooks are checked by
what they print, queries by what they find."""

from __future__ import annotations

import asyncio
from typing import Any

import edda
from edda import WorkflowContext, activity
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


@activity
async def probe_step(ctx: WorkflowContext, n: int) -> int:
    return n * 2


@edda.workflow
async def probe_workflow(ctx: WorkflowContext, n: int) -> int:
    return await probe_step(ctx, n)


async def _probe(app: edda.EddaApp) -> Any:
    return await result_of(app, await probe_workflow.start(n=21))


@scenario("001_07_edda_app", "001_20_edda_app", "002_16_edda_app", "004_21_edda_app")
async def app_runs(run: Run) -> None:
    module = await execute(run, edda_names("EddaApp"))  # some README snippets leave the import out
    app: edda.EddaApp = module.app
    async with running(app):
        output = await _probe(app)
    assert output == 42, output
    run.ok(f"the example's app (schema migrated at start-up, {run.backend}) ran a workflow: {output}")


@scenario("001_08_edda_app")
async def manual_migration(run: Run) -> None:
    # The schema comes from elsewhere (dbmate in the README, with the same SQL files): a harness app with the
    # default auto_migrate=True applies it to the database first; the example's app must then work without migrating.
    async with running(harness_app(run)):
        pass
    module = await execute(run, edda_names("EddaApp"))
    app: edda.EddaApp = module.app
    async with running(app):
        output = await _probe(app)
    assert output == 42, output
    run.ok(f"auto_migrate=False on an already migrated database ({run.backend}): probe returned {output}")


@scenario("001_38_my_hooks", "003_42_my_hooks")
async def hooks(run: Run) -> None:
    module = await execute(run, edda_names("HooksBase"))
    app = module.app if hasattr(module, "app") else harness_app(run, hooks=module.MyHooks())
    with captured_stdout() as out:
        async with running(app):
            iid = await probe_workflow.start(n=1)
            await result_of(app, iid)
            await asyncio.sleep(0.2)
    text = out.getvalue()
    if run.example_id == "001_38_my_hooks":
        in_order(
            text,
            f"Workflow probe_workflow started: {iid}",
            "Activity probe_step completed (cache_hit=False)",
            "Workflow probe_workflow completed",
        )
    else:
        assert "Workflow started: probe_workflow" in text, text
    run.ok("the hooks printed the workflow's and activity's lifecycle")


@scenario("003_01_find_instances")
async def find_by_input(run: Run) -> None:
    async with running(harness_app(run)) as app:

        @edda.workflow
        async def order_workflow(ctx: WorkflowContext, order_id: str) -> str:
            return order_id

        ids = [await order_workflow.start(order_id=o) for o in ("ORD-123", "ORD-999")]
        for iid in ids:
            await wait_status(app, iid, "completed")
        with captured_stdout() as out:
            await execute(run, {"app": app})
    assert f"{ids[0]}: completed" in out.getvalue() and ids[1] not in out.getvalue(), out.getvalue()
    run.ok(f"find_instances(input_filters={{'order_id': 'ORD-123'}}) listed only {ids[0]}")


@scenario("003_02_find_instances")
async def find_running(run: Run) -> None:
    release = asyncio.Event()

    @activity
    async def slow_step(ctx: WorkflowContext) -> None:
        await release.wait()

    @edda.workflow
    async def customer_workflow(ctx: WorkflowContext, customer_id: str) -> None:
        await slow_step(ctx)

    async with running(harness_app(run)) as app:
        busy = await customer_workflow.start(customer_id="CUST-456")
        other = await customer_workflow.start(customer_id="CUST-1")
        await wait_status(app, busy, "running")
        module = await execute(run, {"app": app})
        release.set()
        await wait_status(app, busy, "completed")
        await wait_status(app, other, "completed")
    found = [i["instance_id"] for i in module.result["instances"]]
    assert found == [busy], found
    run.ok(f"input_filters + status='running' found exactly the running CUST-456 instance {busy}")
