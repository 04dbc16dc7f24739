"""A worker process for crash tests: runs one scenario workflow on a database, optionally killed by fault injection.

    python crash_worker.py DB_URL SCENARIO INSTANCE_ID

Starts the scenario's workflow under INSTANCE_ID (or, if it exists, lets recovery resume it), delivers the events
and messages the scenario needs, and prints the JSON result. With EDDA_FAULT_KILL_AFTER_WRITES=k in the environment
the storage SIGKILLs this process right after its k-th write. Every activity and compensation records its side
effect in the table ``crash_effects`` through ``ctx.session``, in the same transaction as its history entry, so
the test can check each happened exactly once.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from sqlalchemy import text

from edda import (
    EddaApp,
    TerminalError,
    WorkflowContext,
    WorkflowFailedError,
    activity,
    compensation,
    on_failure,
    publish,
    receive,
    sleep,
    subscribe,
    wait_event,
    workflow,
)
from edda.storage import open_storage
from edda.testing.faults import from_environment

EFFECTS_DDL = "CREATE TABLE IF NOT EXISTS crash_effects (instance_id VARCHAR(100), effect VARCHAR(200))"


async def record(ctx: WorkflowContext, effect: str) -> None:
    await ctx.session.execute(
        text("INSERT INTO crash_effects (instance_id, effect) VALUES (:i, :e)"), {"i": ctx.instance_id, "e": effect}
    )


@compensation
async def unreserve(ctx: WorkflowContext, item: str) -> None:
    await record(ctx, f"unreserve {item}")


@activity
@on_failure(unreserve)
async def reserve(ctx: WorkflowContext, item: str) -> dict:
    await record(ctx, f"reserve {item}")
    return {"item": item}


@activity
async def charge(ctx: WorkflowContext, amount: float) -> dict:
    await record(ctx, f"charge {amount}")
    if amount > 100:
        raise TerminalError("declined")
    return {"charged": amount}


@activity
async def note(ctx: WorkflowContext, what: str) -> str:
    await record(ctx, what)
    return what


@workflow
async def saga(ctx: WorkflowContext) -> str:
    await reserve(ctx, "a")
    await reserve(ctx, "b")
    await charge(ctx, 500.0)
    return "unreachable"


@workflow
async def simple(ctx: WorkflowContext) -> list[str]:
    return [await note(ctx, "one"), await note(ctx, "two"), await note(ctx, "three")]


@workflow
async def waiter(ctx: WorkflowContext) -> str:
    await note(ctx, "before sleep")
    await sleep(ctx, 0.2)
    event = await wait_event(ctx, "crash.go")
    return await note(ctx, f"got {event.data['v']}")


@workflow
async def messenger(ctx: WorkflowContext) -> list[int]:
    channel = f"jobs-{ctx.instance_id}"
    await subscribe(ctx, channel, mode="competing")
    for n in (1, 2, 3):
        await publish(ctx, channel, {"n": n})  # a recorded step: published exactly once
    got = []
    for _ in range(3):
        msg = await receive(ctx, channel)
        got.append(await note(ctx, f"job {msg.data['n']}"))
    return [int(g.split()[1]) for g in got]


@workflow
async def looper(ctx: WorkflowContext, n: int = 0) -> int:
    await note(ctx, f"iteration {n}")
    if n >= 3:
        return n
    await ctx.recur(n=n + 1)
    return -1


SCENARIOS: dict[str, Any] = {"saga": saga, "simple": simple, "waiter": waiter, "messenger": messenger, "recur": looper}


async def feed(app: EddaApp, scenario: str, instance_id: str) -> None:
    """Deliver what a waiting scenario needs, whenever it waits (idempotent at the level of outcomes)."""
    for _ in range(400):
        record_ = await app.get_instance(instance_id)
        if record_ is None or record_.is_finished:
            return
        if scenario == "waiter" and record_.status == "waiting_for_event":
            await app.handle_cloudevent(
                # One event per instance (source + id identify it: the same id again is a duplicate, dropped).
                {"type": "crash.go", "source": "test", "id": f"go-{instance_id}", "eddainstanceid": instance_id}
                | {"data": {"v": 7}}
            )
        await asyncio.sleep(0.05)


async def main(db_url: str, scenario: str, instance_id: str) -> None:
    storage = from_environment(open_storage(db_url))
    app = EddaApp(service_name="crash", storage=storage, lease_timeout_seconds=2, recovery_interval=0.1)
    await app.initialize()
    async with storage.transaction() as tx:
        await tx.session.execute(text(EFFECTS_DDL))
    try:
        if await app.get_instance(instance_id) is None:
            await SCENARIOS[scenario].start(instance_id=instance_id)
        feeder = asyncio.create_task(feed(app, scenario, instance_id))
        try:
            result: Any = await app.wait_for_result(instance_id, timeout=60)
        except WorkflowFailedError as exc:
            result = {"failed": exc.error_type, "message": exc.error_message}
        feeder.cancel()
        print(json.dumps({"result": result}))
    finally:
        await app.shutdown()
        await storage.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
