# Extracted from the seed 004_9542d0c1ed65aa6c.txt, code block 3 (line 40), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

@workflow
async def process_order(ctx: WorkflowContext, order_id: str):
    # Step 1: Reserve inventory
    reservation = await reserve_inventory(ctx, order_id)  # ✅ Saved to history
    # 💥 Process crashes here!
    # Step 2: Charge payment
    payment = await charge_payment(ctx, order_id)
    return {"order_id": order_id, "status": "completed"}
