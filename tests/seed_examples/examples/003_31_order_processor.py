# Extracted from the seed 003_98fb4c9670be06ad.txt, code block 31 (line 1356), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

@workflow
async def order_processor(ctx: WorkflowContext, order_id: str):
    result = await process_order(ctx, order_id, activity_id="process:1")
    await publish(ctx, "order.completed", {"order_id": order_id})
    return result
