# Extracted from the seed 003_98fb4c9670be06ad.txt, code block 5 (line 455), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

@workflow
async def order_workflow(ctx: WorkflowContext, order_id: str, amount: int):
    inventory = await reserve_inventory(ctx, order_id)
    payment = await process_payment(ctx, order_id, amount)
    return {"status": "completed"}

# Start the workflow manually
instance_id = await order_workflow.start(order_id="123", amount=100)
