"""Four versions of one workflow's code, as a project's history of deploys. Each is written to a folder of its own as
``flows.py``; a process imports the version its PYTHONPATH points at."""

from __future__ import annotations

COMMON = """
import os

from edda import WorkflowContext, activity, wait_event, workflow


def effect(what):
    with open(os.environ["EDDA_TEST_EFFECTS"], "a") as f:
        f.write(what + "\\n")


@activity
async def reserve(ctx: WorkflowContext, order: str) -> str:
    effect(f"reserve {order}")
    return order


@activity
async def charge(ctx: WorkflowContext, order: str) -> int:
    effect(f"charge {order}")
    return 100


@activity
async def charge_with_tax(ctx: WorkflowContext, order: str) -> int:
    effect(f"charge_with_tax {order}")
    return 119


@activity
async def notify(ctx: WorkflowContext, order: str, amount: int) -> str:
    effect(f"notify {order} {amount}")
    return f"{order}:{amount}"
"""

V1 = (
    COMMON
    + """

@workflow
async def versioned_order(ctx: WorkflowContext, order: str) -> str:
    await reserve(ctx, order)
    amount = await charge(ctx, order)
    await wait_event(ctx, f"shipped.{order}")
    return await notify(ctx, order, amount)
"""
)

# Changed without care: in-flight instances that already charged diverge.
V2_BROKEN = (
    COMMON
    + """

@workflow
async def versioned_order(ctx: WorkflowContext, order: str) -> str:
    await reserve(ctx, order)
    amount = await charge_with_tax(ctx, order)
    await wait_event(ctx, f"shipped.{order}")
    return await notify(ctx, order, amount)
"""
)

# The same change behind ctx.patched: old instances keep the old branch, new ones take the new.
V2_PATCHED = (
    COMMON
    + """

@workflow
async def versioned_order(ctx: WorkflowContext, order: str) -> str:
    await reserve(ctx, order)
    if ctx.patched("tax"):
        amount = await charge_with_tax(ctx, order)
    else:
        amount = await charge(ctx, order)
    await wait_event(ctx, f"shipped.{order}")
    return await notify(ctx, order, amount)
"""
)

# Once no instance needs the old branch: it is deleted, the patch deprecated.
V3_DEPRECATED = (
    COMMON
    + """

@workflow
async def versioned_order(ctx: WorkflowContext, order: str) -> str:
    await reserve(ctx, order)
    ctx.deprecate_patch("tax")
    amount = await charge_with_tax(ctx, order)
    await wait_event(ctx, f"shipped.{order}")
    return await notify(ctx, order, amount)
"""
)

VERSIONS = {"v1": V1, "v2-broken": V2_BROKEN, "v2-patched": V2_PATCHED, "v3": V3_DEPRECATED}
