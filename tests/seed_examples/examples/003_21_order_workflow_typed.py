# Extracted from the seed 003_98fb4c9670be06ad.txt, code block 21 (line 1057), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

@workflow
async def order_workflow_typed(ctx: WorkflowContext, order_id: str):
    await subscribe(ctx, "payment.completed", mode="broadcast")
    payment_event = await wait_event(
        ctx,
        event_type="payment.completed",
        model=PaymentCompleted
    )
    # Type-safe access with IDE completion
    amount = payment_event.data.amount
