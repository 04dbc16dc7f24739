# Extracted from the seed 003_98fb4c9670be06ad.txt, code block 36 (line 1586), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# Also in: 003_98fb4c9670be06ad.txt block 38.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

@activity
@on_failure(release_inventory)
async def reserve_inventory(ctx: WorkflowContext, order_id: str) -> dict:
    reservation_id = await make_reservation(order_id)
    return {"reservation_id": reservation_id}

@activity
async def release_inventory(ctx: WorkflowContext, reservation_id: str) -> None:
    await cancel_reservation(reservation_id)
