# Extracted from the seed 004_9542d0c1ed65aa6c.txt, code block 2 (line 21), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

from edda import workflow, WorkflowContext

@workflow
async def user_signup(ctx: WorkflowContext, email: str, name: str):
    """Orchestration logic - coordinates activities"""
    # Step 1: Create user account
    user = await create_account(ctx, email, name)
    # Step 2: Send welcome email
    await send_email(ctx, email, f"Welcome, {name}!")
    # Step 3: Initialize user settings
    await setup_default_settings(ctx, user["user_id"])
    return {"user_id": user["user_id"], "status": "active"}
