# Extracted from the seed 003_98fb4c9670be06ad.txt, code block 18 (line 951), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

@workflow
async def order_workflow(ctx: WorkflowContext, order_id: str):
    await create_order(ctx, order_id, activity_id="create:1")
    await sleep(ctx, 60)  # Wait 60 seconds for payment
    await check_payment(ctx, order_id, activity_id="check:1")
