# Extracted from the seed 004_9542d0c1ed65aa6c.txt, code block 12 (line 172), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

@workflow
async def order_workflow(ctx: WorkflowContext, order_id: str, amount: float):
    # ✅ Condition based on activity result (deterministic)
    payment = await process_payment(ctx, amount, activity_id="process_payment:1")
    if payment["status"] == "approved":
        # This path will always be taken on replay
        await ship_order(ctx, order_id, activity_id="ship_order:1")
    else:
        # Or this path will always be taken on replay
        await refund(ctx, order_id, activity_id="refund:1")
    return {"status": payment["status"]}
