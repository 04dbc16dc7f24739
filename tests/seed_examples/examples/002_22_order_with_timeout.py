# Extracted from the seed 002_253876707cc4721c.txt, code block 22 (line 585), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

from edda import wait_timer

@workflow
async def order_with_timeout(ctx: WorkflowContext, order_id: str):
    # Create order
    await create_order(ctx, order_id)

    # Wait 60 seconds for payment
    await wait_timer(ctx, duration_seconds=60)

    # Check payment status
    return await check_payment(ctx, order_id)
