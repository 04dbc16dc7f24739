"""A worker process for the early-event tests (test_early_events.py).

    python early_worker.py DB_URL MODE

MODE ``serve``: for each line ``start`` on stdin, start an ``early_order`` instance and print its id; the test sends
the instance's event from its own process and answers ``next``. At end of input, wait for every result and print
them as one JSON line.

MODE ``crash-1``: start an instance whose first activity blocks, deliver its event at once (before the workflow
waits), print ``sent <id>``, and wait to be killed. MODE ``crash-2 ID``: resume on the same database (the activity
no longer blocks) and print the instance's result as JSON.
"""

from __future__ import annotations

import asyncio
import json
import sys

from edda import EddaApp, WorkflowContext, activity, wait_event, workflow

BLOCK = {"on": True}


@activity
async def prepare(ctx: WorkflowContext, order_id: str) -> str:
    while BLOCK["on"]:
        await asyncio.sleep(0.05)
    return order_id


@workflow
async def early_order(ctx: WorkflowContext, order_id: str) -> dict:
    await prepare(ctx, order_id)
    event = await wait_event(ctx, "early.paid")
    return {"order_id": order_id, "paid": event.data, "event_id": event.id}


async def serve(db_url: str) -> None:
    BLOCK["on"] = False
    ids = []
    async with EddaApp(service_name="early-worker", db_url=db_url) as app:
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if line.strip() != "start":
                break
            iid = await early_order.start(order_id=f"o-{len(ids)}")
            ids.append(iid)
            print(iid, flush=True)
        results = {iid: await app.wait_for_result(iid, timeout=60) for iid in ids}
    print(json.dumps(results), flush=True)


async def crash_first_run(db_url: str) -> None:
    async with EddaApp(service_name="early-crash", db_url=db_url) as app:
        iid = await early_order.start(order_id="o-crash")
        await app.handle_cloudevent(
            {"specversion": "1.0", "type": "early.paid", "source": "test", "id": "pay-1", "data": {"amount": 7}}
        )
        print(f"sent {iid}", flush=True)
        await asyncio.sleep(3600)  # killed here, inside the blocked activity, before the workflow waited


async def crash_second_run(db_url: str, iid: str) -> None:
    BLOCK["on"] = False
    async with EddaApp(service_name="early-crash", db_url=db_url, lease_timeout_seconds=2) as app:
        print(json.dumps(await app.wait_for_result(iid, timeout=60)), flush=True)


if __name__ == "__main__":
    url, mode = sys.argv[1], sys.argv[2]
    if mode == "serve":
        asyncio.run(serve(url))
    elif mode == "crash-1":
        asyncio.run(crash_first_run(url))
    else:
        asyncio.run(crash_second_run(url, sys.argv[3]))
