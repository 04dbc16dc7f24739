# Extracted from the seed 003_98fb4c9670be06ad.txt, code block 10 (line 596), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

@activity  # Sync activity (no async/await)
def reserve_inventory(ctx: WorkflowContext, order_id: str) -> dict:
    # Your business logic here (executed in thread pool)
    return {"reservation_id": "123"}

@activity  # Async activity (recommended for I/O-bound operations)
async def reserve_inventory_async(ctx: WorkflowContext, order_id: str) -> dict:
    # Async I/O operations
    return {"reservation_id": "123"}

from edda.retry import RetryPolicy, AGGRESSIVE_RETRY

@activity(retry_policy=AGGRESSIVE_RETRY)  # Custom retry policy
def process_payment(ctx: WorkflowContext, amount: float) -> dict:
    # Fast retries for low-latency services
    return {"status": "completed"}

@activity  # Non-idempotent operations cached during replay
def charge_credit_card(ctx: WorkflowContext, amount: float) -> dict:
    # External API call - result is cached, won't be called again on replay
    # If this fails, automatic retry with exponential backoff
    return {"transaction_id": "txn_123"}

from edda.exceptions import TerminalError

@activity
def validate_user(ctx: WorkflowContext, user_id: str) -> dict:
    user = fetch_user(user_id)  # No await needed for sync
    if not user:
        # Don't retry - user doesn't exist
        raise TerminalError(f"User {user_id} not found")
    return {"user_id": user_id, "name": user.name}
