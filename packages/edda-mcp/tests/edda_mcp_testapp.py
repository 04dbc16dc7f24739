"""The durable-tool MCP server the tests talk to, in a process of its own.

    python -m edda_mcp_testapp http      # prints {"port": N} once uvicorn listens on 127.0.0.1:N
    python -m edda_mcp_testapp stdio     # MCP over stdin/stdout

Environment: ``EDDA_MCP_DB`` (database URL), ``EDDA_MCP_EFFECTS`` (a file each side effect appends a line to),
``EDDA_MCP_GATE`` (a file ``pipeline``'s second step waits for), ``EDDA_MCP_TOKEN`` (require this bearer token).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import os
import socket
import sys
from pathlib import Path

import uvicorn
from edda_mcp_testmodels import Customer, OrderLine

from edda import WorkflowContext, activity, compensation, on_failure, wait_event
from edda_mcp import EddaMCPServer

TOKEN = os.environ.get("EDDA_MCP_TOKEN")


def record(line: str) -> None:
    """Append a side effect to the effects file, durably (the tests count them, also across a SIGKILL)."""
    with Path(os.environ["EDDA_MCP_EFFECTS"]).open("a", encoding="utf-8") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())


def token_ok(token: str) -> bool:
    return TOKEN is not None and hmac.compare_digest(token.encode(), TOKEN.encode())


server = EddaMCPServer(
    "Test Orders", os.environ["EDDA_MCP_DB"], token_verifier=token_ok if TOKEN else None, recovery_interval=0.2
)


@activity
async def charge(ctx: WorkflowContext, customer: Customer, total: int) -> dict:
    record(f"charge {customer.name} {total}")
    return {"charged": total}


@server.durable_tool(description="Place an order for a customer.")
async def place_order(ctx: WorkflowContext, customer: Customer, lines: list[OrderLine], express: bool = False) -> dict:
    # The workflow receives model instances, not dicts: say which types arrived.
    total = sum(line.quantity for line in lines)
    receipt = await charge(ctx, customer, total)
    return {
        "customer_type": type(customer).__name__,
        "address_type": type(customer.address).__name__,
        "line_types": sorted({type(line).__name__ for line in lines}),
        "city": customer.address.city,
        "quantities": [line.quantity for line in lines],
        "express": express,
        **receipt,
    }


@compensation
async def release_room(ctx: WorkflowContext, hotel: str) -> None:
    record(f"release {hotel}")


@activity
@on_failure(release_room)
async def reserve_room(ctx: WorkflowContext, hotel: str) -> dict:
    record(f"reserve {hotel}")
    return {"hotel": hotel}


@server.durable_tool(description="Book a trip: reserve the hotel, then wait for the approval event.")
async def book_trip(ctx: WorkflowContext, hotel: str) -> dict:
    await reserve_room(ctx, hotel)
    approval = await wait_event(ctx, "trip.approved")
    return {"hotel": hotel, "approved_by": approval.data["by"]}


@activity
async def step_one(ctx: WorkflowContext, job: str) -> str:
    record(f"one {job}")
    return f"{job}-1"


@activity
async def step_two(ctx: WorkflowContext, job: str) -> str:
    record(f"two-start {job}")
    gate = Path(os.environ["EDDA_MCP_GATE"])
    while not await asyncio.to_thread(gate.exists):
        await asyncio.sleep(0.02)
    record(f"two-done {job}")
    return f"{job}-2"


@activity
async def step_three(ctx: WorkflowContext, job: str) -> str:
    record(f"three {job}")
    return f"{job}-3"


@server.durable_tool
async def pipeline(ctx: WorkflowContext, job: str) -> dict:
    """Three steps; the second waits for the gate file."""
    return {"steps": [await step_one(ctx, job), await step_two(ctx, job), await step_three(ctx, job)]}


@server.prompt(description="Report the state of a workflow instance.")
async def instance_report(instance_id: str) -> str:
    instance = await server.storage.get_instance(instance_id)
    if instance is None:
        return f"There is no workflow instance {instance_id}."
    history = await server.storage.get_history(instance_id)
    events = [f"{event['event_type']}:{event['activity_id']}" for event in history]
    return (
        f"Workflow {instance['workflow_name']} ({instance_id})\n"
        f"Status: {instance['status']}\n"
        f"History: {json.dumps(events)}\n"
        f"Output: {json.dumps(instance.get('output_data'))}"
    )


async def serve_http() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(server.asgi_app(), lifespan="on", log_level="warning", access_log=False)
    web = uvicorn.Server(config)
    task = asyncio.create_task(web.serve(sockets=[sock]))
    while not web.started:
        if task.done():
            task.result()
            raise SystemExit("uvicorn stopped before it started")
        await asyncio.sleep(0.01)
    print(json.dumps({"port": sock.getsockname()[1]}), flush=True)
    await task


if __name__ == "__main__":
    if sys.argv[1:] == ["stdio"]:
        asyncio.run(server.run_stdio())
    else:
        asyncio.run(serve_http())
