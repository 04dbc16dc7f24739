"""A worker process of one of two services that share a database (test_other_services.py).

    python service_worker.py DB_URL SERVICE COUNT

SERVICE ``orders`` or ``billing``: the process defines that service's workflow only (``orders_flow`` or
``billing_flow``: an activity, a 1 s durable sleep, an activity). It starts COUNT instances of it (none for COUNT 0),
prints ``started`` once they are stored, then waits for every unfinished instance of its workflow, started here or
left by an earlier process, and prints their results as one JSON line. Its log goes to stderr.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys

from edda import EddaApp, WorkflowContext, activity, sleep, workflow
from edda.storage.records import InstanceQuery


@activity
async def note(ctx: WorkflowContext, what: str) -> str:
    return f"{ctx.instance_id}: {what}"


async def body(ctx: WorkflowContext, n: int) -> list[str]:
    first = await note(ctx, f"before {n}")
    await sleep(ctx, 1.0)
    return [first, await note(ctx, f"after {n}")]


SERVICE = sys.argv[2] if __name__ == "__main__" else "orders"
if SERVICE == "orders":

    @workflow
    async def orders_flow(ctx: WorkflowContext, n: int) -> list[str]:
        return await body(ctx, n)

    FLOW = orders_flow
else:

    @workflow
    async def billing_flow(ctx: WorkflowContext, n: int) -> list[str]:
        return await body(ctx, n)

    FLOW = billing_flow


async def main(db_url: str, count: int) -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    async with EddaApp(service_name=SERVICE, db_url=db_url, recovery_interval=0.2) as app:
        for n in range(count):
            await FLOW.start(instance_id=f"{SERVICE}-{n}", n=n)
        print("started", flush=True)
        page = await app.storage.find_instances(InstanceQuery(workflow_name=f"{SERVICE}_flow", limit=1000))
        ids = sorted(r.instance_id for r in page.instances)
        results = {iid: await app.wait_for_result(iid, timeout=60) for iid in ids}
        print(json.dumps(results), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[3])))
