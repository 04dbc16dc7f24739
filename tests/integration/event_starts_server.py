"""A server for test_event_starts.py: ``python -m tests.integration.event_starts_server`` with EDDA_TEST_DB_URL,
EDDA_TEST_EFFECTS and BLOCK (1: every handler and started workflow blocks before its side effect, so the process can
be killed with all of them pending). Prints the port, then serves CloudEvents until killed."""

from __future__ import annotations

import asyncio
import json
import os
import socket

import uvicorn

from edda import EddaApp, WorkflowContext, activity, workflow


def effect(what: str) -> None:
    with open(os.environ["EDDA_TEST_EFFECTS"], "a") as effects:
        effects.write(what + "\n")


async def blocked() -> None:
    while os.environ.get("BLOCK") == "1":
        await asyncio.sleep(0.05)


@activity
async def fulfil(ctx: WorkflowContext, order_id: str) -> str:
    await blocked()
    effect(f"fulfil {order_id}")
    return order_id


@workflow(event_handler=True)
async def order_placed(ctx: WorkflowContext, order_id: str) -> str:
    return await fulfil(ctx, order_id)


async def main() -> None:
    app = EddaApp(service_name="event-starts", db_url=os.environ["EDDA_TEST_DB_URL"], recovery_interval=0.2)

    @app.on_event("order_placed")
    async def audit(event: object) -> None:
        await blocked()
        effect(f"audit {event['id']}")  # type: ignore[index]

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    print(json.dumps({"port": sock.getsockname()[1]}), flush=True)
    await task


if __name__ == "__main__":
    asyncio.run(main())
