"""A worker process for the multi-worker soak and database chaos tests.

    EDDA_SOAK_DB_URL=... python soak_worker.py INDEX WORKERS COUNT CONSUMERS START_SECONDS

Runs one EddaApp (service ``soak-w<INDEX>``, lease 2 s, recovery every 0.2 s) on the database, prints
``WORKER <worker_id>``, starts its share of the workload of ``soak_plan.build_plan(COUNT, CONSUMERS)`` (spread
evenly over START_SECONDS, all at once if 0), prints ``STARTED``, then works until SIGTERM (graceful shutdown) or
SIGKILL. The database URL comes from the environment so that it never shows in a process listing or a log.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time

from sqlalchemy import text

from edda import (
    EddaApp,
    StorageUnavailableError,
    WorkflowContext,
    activity,
    publish,
    receive,
    sleep,
    subscribe,
    wait_event,
    workflow,
)
from tests.integration.soak_plan import (
    BROADCAST_EVENT,
    EFFECTS_TABLE,
    GO_EVENT,
    JOBS_CHANNEL,
    JOBS_PER_PRODUCER,
    LEASE_TIMEOUT_SECONDS,
    RECOVERY_INTERVAL,
    build_plan,
    is_driver_error,
    share,
)


async def record(ctx: WorkflowContext, effect: str) -> None:
    """The activity's side effect: a row written in the activity's own transaction."""
    await ctx.session.execute(
        text(f"INSERT INTO {EFFECTS_TABLE} (instance_id, effect) VALUES (:i, :e)"),
        {"i": ctx.instance_id, "e": effect},
    )


@activity
async def step(ctx: WorkflowContext, tag: str, pause: float = 0.0, pause_in_tx: float = 0.0) -> str:
    await asyncio.sleep(pause)  # the instance is owned (and in flight) meanwhile, without a transaction open
    await record(ctx, tag)
    await asyncio.sleep(pause_in_tx)  # ... and here with the activity's transaction open
    return tag


@activity
async def publish_in_activity(ctx: WorkflowContext, job: str) -> str:
    await record(ctx, "publish-in-activity")
    await publish(ctx, JOBS_CHANNEL, {"job": job})  # commits atomically with the activity
    return job


@activity
async def handle_job(ctx: WorkflowContext, job: str) -> str:
    await record(ctx, f"job {job}")
    return job


@workflow
async def soak_chain(ctx: WorkflowContext) -> list[str]:
    return [
        await step(ctx, "s1", pause=0.3),
        await step(ctx, "s2", pause=0.1, pause_in_tx=0.05),
        await step(ctx, "s3", pause=0.4),
        await step(ctx, "s4"),
    ]


@workflow
async def soak_sleeper(ctx: WorkflowContext, seconds: float) -> str:
    await step(ctx, "before")
    await sleep(ctx, seconds)
    await step(ctx, "after")
    return "slept"


@workflow
async def soak_event(ctx: WorkflowContext) -> str:
    await step(ctx, "ready")
    event = await wait_event(ctx, GO_EVENT)
    await step(ctx, "got", pause=0.1)
    return str(event.data["for"])


@workflow
async def soak_broadcast(ctx: WorkflowContext) -> str:
    await step(ctx, "ready")
    event = await wait_event(ctx, BROADCAST_EVENT)
    await step(ctx, "got")
    return "broadcast" if isinstance(event.data.get("round"), int) else f"bad event data {event.data!r}"


@workflow
async def soak_producer(ctx: WorkflowContext) -> int:
    for k in range(JOBS_PER_PRODUCER):
        await publish(ctx, JOBS_CHANNEL, {"job": f"{ctx.instance_id}#{k}"})
    await publish_in_activity(ctx, f"{ctx.instance_id}#act")
    await step(ctx, "done", pause=0.2)
    return JOBS_PER_PRODUCER + 1


@workflow
async def soak_consumer(ctx: WorkflowContext, processed: int = 0) -> int:
    await subscribe(ctx, JOBS_CHANNEL, mode="competing")
    message = await receive(ctx, JOBS_CHANNEL)
    if message.data.get("stop"):
        await step(ctx, "stop")
        return processed
    await handle_job(ctx, message.data["job"])
    await ctx.recur(processed=processed + 1)
    return -1  # unreachable: recur() never returns


async def start_share(app: EddaApp, index: int, workers: int, count: int, consumers: int, spread: float) -> None:
    mine = share(build_plan(count, consumers), index, workers)
    gap = spread / len(mine) if mine and spread > 0 else 0.0
    began = time.monotonic()
    for n, planned in enumerate(mine):
        while True:
            try:
                await app.start_workflow(planned.workflow, planned.kwargs, instance_id=planned.instance_id)
                break
            except StorageUnavailableError as exc:  # e.g. the chaos test just killed our connection
                logging.getLogger("soak").warning("start of %s failed, retrying: %s", planned.instance_id, exc)
                await asyncio.sleep(0.2)
            except Exception as exc:
                if not is_driver_error(exc):
                    raise
                # A lost connection that the storage did not classify as StorageUnavailableError (a bug, see
                # test_multiprocess_findings.py): counted by the test, retried like the documented case.
                logging.getLogger("soak").warning(
                    "UNCLASSIFIED start of %s failed: %s: %s", planned.instance_id, type(exc).__name__, exc
                )
                await asyncio.sleep(0.2)
        if gap:
            await asyncio.sleep(max(0.0, began + (n + 1) * gap - time.monotonic()))


async def main(index: int, workers: int, count: int, consumers: int, spread: float) -> None:
    db_url = os.environ["EDDA_SOAK_DB_URL"]
    app = EddaApp(
        service_name=f"soak-w{index}",
        db_url=db_url,
        lease_timeout_seconds=LEASE_TIMEOUT_SECONDS,
        recovery_interval=RECOVERY_INTERVAL,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    while True:
        try:
            await app.initialize()
            break
        except StorageUnavailableError as exc:
            logging.getLogger("soak").warning("initialize failed, retrying: %s", exc)
            await asyncio.sleep(0.5)
    print(f"WORKER {app.worker_id}", flush=True)
    try:
        await start_share(app, index, workers, count, consumers, spread)
        print("STARTED", flush=True)
        await stop.wait()
    finally:
        await app.shutdown()
    print("STOPPED", flush=True)


if __name__ == "__main__":
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    index, workers, count, consumers = (int(a) for a in sys.argv[1:5])
    asyncio.run(main(index, workers, count, consumers, float(sys.argv[5])))
