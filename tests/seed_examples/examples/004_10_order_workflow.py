# Extracted from the seed 004_9542d0c1ed65aa6c.txt, code block 10 (line 135), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

from edda import activity, RetryExhaustedError, WorkflowContext

@workflow
async def order_workflow(ctx: WorkflowContext, order_id: str):
    try:
        # Activity retries up to 5 times
        payment = await charge_payment(ctx, order_id)
    except RetryExhaustedError as e:
        # All 5 attempts failed - execute fallback logic
        await notify_payment_team(ctx, order_id)
        raise  # Re-raise to fail the workflow
