"""Workflows that put instances of every kind into a database for the CLI tests."""

from __future__ import annotations

from edda import (
    TerminalError,
    WorkflowContext,
    activity,
    compensation,
    on_failure,
    send_event_transactional,
    wait_event,
    workflow,
)


@activity
async def double(ctx: WorkflowContext, n: int) -> int:
    return n * 2


@workflow
async def cli_double(ctx: WorkflowContext, n: int, customer: dict) -> int:
    return await double(ctx, n)


@activity
async def explode(ctx: WorkflowContext) -> None:
    raise TerminalError("card declined")


@workflow
async def cli_failing(ctx: WorkflowContext) -> None:
    await explode(ctx)


@compensation
async def unbook(ctx: WorkflowContext, room: str) -> None:
    return None


@activity
@on_failure(unbook)
async def book(ctx: WorkflowContext, room: str) -> str:
    return room


@workflow
async def cli_waiting(ctx: WorkflowContext, room: str) -> str:
    await book(ctx, room)
    await wait_event(ctx, "cli.confirmed")
    return room


@activity
async def announce(ctx: WorkflowContext, order: str) -> None:
    await send_event_transactional(ctx, "cli.announced", "cli-tests", {"order": order})


@workflow
async def cli_announcing(ctx: WorkflowContext, order: str) -> None:
    await announce(ctx, order)
    await announce(ctx, order + "-again")
