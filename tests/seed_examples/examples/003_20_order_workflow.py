# Extracted from the seed 003_98fb4c9670be06ad.txt, code block 20 (line 1053), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

@workflow
async def order_workflow(ctx: WorkflowContext, order_id: str):
    await subscribe(ctx, "payment.completed", mode="broadcast")
    payment_event = await wait_event(ctx, "payment.completed")
    amount = payment_event.data["amount"]
    order_id = payment_event.data["order_id"]
