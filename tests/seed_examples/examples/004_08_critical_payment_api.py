# Extracted from the seed 004_9542d0c1ed65aa6c.txt, code block 8 (line 107), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

from edda import activity, RetryPolicy

@activity(retry_policy=RetryPolicy(
        max_attempts=10, # More attempts for critical operations
        initial_interval=0.5, # Faster initial retry
        backoff_coefficient=1.5, # Slower exponential growth
        max_interval=30.0, # Cap at 30 seconds
        max_duration=120.0 # Stop retrying after 2 minutes total
))
async def critical_payment_api(ctx: WorkflowContext, amount: float):
    # Retry aggressively for payment operations
    response = await payment_service.charge(amount)
    return {"transaction_id": response.id}
