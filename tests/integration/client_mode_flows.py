"""Workflows shared by the client-mode tests and their worker process (client_mode_worker.py).

Every activity and compensation appends ``<what> <pid>`` to the file named by ``EDDA_TEST_EFFECTS``, so a test can
tell which process ran it and how often.
"""

from __future__ import annotations

import asyncio
import os

from edda import WorkflowContext, activity, compensation, on_failure, wait_event, workflow


def record(what: str) -> None:
    with open(os.environ["EDDA_TEST_EFFECTS"], "a") as effects:
        effects.write(f"{what} {os.getpid()}\n")


@activity
async def greet_activity(ctx: WorkflowContext, name: str) -> str:
    record(f"greet:{name}")
    return f"hello {name}"


@workflow
async def client_greet(ctx: WorkflowContext, name: str) -> str:
    return await greet_activity(ctx, name)


@activity
async def slow_step(ctx: WorkflowContext, seconds: float) -> float:
    await asyncio.sleep(seconds)
    record("slow")
    return seconds


@workflow
async def client_slow(ctx: WorkflowContext, seconds: float) -> float:
    return await slow_step(ctx, seconds)


@compensation
async def release_room(ctx: WorkflowContext, room: str) -> None:
    record(f"release:{room}")


@activity
@on_failure(release_room)
async def reserve_room(ctx: WorkflowContext, room: str) -> str:
    record(f"reserve:{room}")
    return room


@workflow
async def client_booking(ctx: WorkflowContext, room: str) -> str:
    await reserve_room(ctx, room)
    await wait_event(ctx, "booking.confirmed")
    return room
