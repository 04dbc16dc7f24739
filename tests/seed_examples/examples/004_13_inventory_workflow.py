# Extracted from the seed 004_9542d0c1ed65aa6c.txt, code block 13 (line 186), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

@workflow
async def inventory_workflow(ctx: WorkflowContext, item_id: str):
    # ⚠️ Direct database read (non-deterministic on replay)
    stock = await db.query("SELECT stock FROM inventory WHERE id = ?", item_id)
    if stock > 0:
        # This condition may evaluate differently on replay!
        # (if stock changed between original run and replay)
        await reserve_item(ctx, item_id, activity_id="reserve:1")
