# Extracted from the seed 004_9542d0c1ed65aa6c.txt, code block 17 (line 259), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

from edda import activity, on_failure, compensation, workflow, WorkflowContext

@compensation
async def cancel_reservation(ctx: WorkflowContext, item_id: str):
    """Compensation function - runs on workflow failure"""
    print(f"❌ Cancelled reservation for {item_id}")
    return {"cancelled": True}

@activity
@on_failure(cancel_reservation)
async def reserve_inventory(ctx: WorkflowContext, item_id: str):
    print(f"✅ Reserved {item_id}")
    return {"reserved": True, "item_id": item_id}

@workflow
async def order_workflow(ctx: WorkflowContext, item1: str, item2: str):
    await reserve_inventory(ctx, item1)  # Step 1
    await reserve_inventory(ctx, item2)  # Step 2
    await charge_payment(ctx)  # Step 3: Fails!
    return {"status": "completed"}
