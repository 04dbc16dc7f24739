# Extracted from the seed 004_9542d0c1ed65aa6c.txt, code block 14 (line 197), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

@workflow
async def fresh_inventory_check(ctx: WorkflowContext, item_id: str):
    # ✅ Intentionally check current stock on every execution (including replay)
    # Use case: Always respect current inventory levels
    current_stock = await check_current_inventory(
        ctx, item_id, activity_id="check_stock:1"
    )
    if current_stock["available"] > 0:
        # Decision based on CURRENT state, not historical state
        await create_order(ctx, item_id, activity_id="create_order:1")
    else:
        await notify_out_of_stock(ctx, item_id, activity_id="notify:1")
