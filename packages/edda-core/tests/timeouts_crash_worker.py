"""A worker process for ``test_timeouts_durable.py``: timeouts across SIGKILL and restart on one database.

Usage: ``python timeouts_crash_worker.py start WORKFLOW INSTANCE_ID [wait]`` starts an instance and keeps running
(the test kills it with SIGKILL); ``python timeouts_crash_worker.py finish INSTANCE_ID`` runs the database's
workflows until that instance finishes and prints ``{"status", "output", "error"}`` as JSON.

Environment: ``EDDA_TEST_DB_URL`` (the database), ``EDDA_TEST_EFFECTS`` (a file that gets one line per side effect),
``EDDA_TEST_HANG=1`` (activities that can hang do, so the process is killed in the middle of them).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

from edda import (
    EddaApp,
    RetryPolicy,
    WorkflowCancelledException,
    WorkflowContext,
    WorkflowFailedError,
    activity,
    compensation,
    on_failure,
    wait_event,
    workflow,
)

ATTEMPT_TIMEOUT = 3.0
EXECUTION_TIMEOUT = 4.0


def effect(line: str) -> None:
    with open(os.environ["EDDA_TEST_EFFECTS"], "a") as out:
        out.write(f"{line} pid={os.getpid()}\n")
        out.flush()
        os.fsync(out.fileno())


async def hang_if_asked() -> None:
    if os.environ.get("EDDA_TEST_HANG") == "1":
        await asyncio.Event().wait()


@activity(timeout_seconds=ATTEMPT_TIMEOUT, retry_policy=RetryPolicy(max_attempts=2, initial_interval=0.0))
async def call_partner(ctx: WorkflowContext, order: str) -> str:
    effect(f"call_partner {order}")
    await hang_if_asked()
    return f"accepted {order}"


@workflow
async def partner_order(ctx: WorkflowContext, order: str) -> str:
    return await call_partner(ctx, order)


@compensation
async def release_stock(ctx: WorkflowContext, order: str) -> None:
    effect(f"release {order}")


@activity
@on_failure(release_stock)
async def reserve_stock(ctx: WorkflowContext, order: str) -> str:
    effect(f"reserve {order}")
    return order


@activity
async def pack(ctx: WorkflowContext, order: str) -> None:
    effect(f"pack {order}")
    await hang_if_asked()


@workflow(execution_timeout_seconds=EXECUTION_TIMEOUT)
async def deadline_order(ctx: WorkflowContext, order: str, wait: bool) -> str:
    await reserve_stock(ctx, order)
    if wait:
        await wait_event(ctx, f"approved.{order}")  # no timeout of its own: only the deadline ends it
    else:
        await pack(ctx, order)
    return f"shipped {order}"


async def start(name: str, instance_id: str, wait: bool) -> None:
    async with EddaApp(service_name="timeouts-start", db_url=os.environ["EDDA_TEST_DB_URL"], recovery_interval=0.2):
        if name == "partner_order":
            await partner_order.start(instance_id=instance_id, order=instance_id)
        else:
            await deadline_order.start(instance_id=instance_id, order=instance_id, wait=wait)
        effect(f"started {instance_id}")
        await asyncio.Event().wait()  # until SIGKILL


async def finish(instance_id: str) -> None:
    url = os.environ["EDDA_TEST_DB_URL"]
    async with EddaApp(service_name="timeouts-finish", db_url=url, recovery_interval=0.2) as app:
        try:
            output = await app.wait_for_result(instance_id, timeout=90)
        except (WorkflowCancelledException, WorkflowFailedError):
            output = None
        record = await app.get_instance(instance_id)
        assert record is not None
        print(json.dumps({"status": record.status, "output": output, "error": record.error}))


if __name__ == "__main__":
    command, *rest = sys.argv[1:]
    if command == "start":
        asyncio.run(start(rest[0], rest[1], wait=rest[2:] == ["wait"]))
    else:
        asyncio.run(finish(rest[0]))
