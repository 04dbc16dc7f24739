# Extracted from the seed 001_0341209f201d6937.readme.md, code block 22 (line 526), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# Also in: 001_0341209f201d6937.txt block 22, 002_253876707cc4721c.txt block 18.
# ruff: noqa
# fmt: off

from edda import activity, send_event_transactional, WorkflowContext

@activity  # Automatically transactional
async def create_order(ctx: WorkflowContext, order_id: str):
    # All operations in a single transaction:
    # 1. Activity execution
    # 2. History recording
    # 3. Event publishing (outbox table)

    await send_event_transactional(
        ctx,
        event_type="order.created",
        event_source="order-service",
        event_data={"order_id": order_id}
    )

    return {"order_id": order_id}
