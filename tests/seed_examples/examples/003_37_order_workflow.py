# Extracted from the seed 003_98fb4c9670be06ad.txt, code block 37 (line 1624), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# Also in: 003_98fb4c9670be06ad.txt block 39.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

@saga
async def order_workflow(ctx: WorkflowContext, order_id: str) -> dict:
    # Execute activity
    result = await reserve_inventory(ctx, order_id, activity_id="reserve:1")

    # Register compensation AFTER activity execution
    await register_compensation(
        ctx,
        release_inventory,
        activity_id="reserve:1",
        reservation_id=result["reservation_id"]
    )

    return result
