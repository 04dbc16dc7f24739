# Extracted from the seed 004_9542d0c1ed65aa6c.txt, code block 9 (line 121), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

from edda import activity, TerminalError, WorkflowContext

@activity
async def validate_user(ctx: WorkflowContext, user_id: str):
    user = await fetch_user(user_id)
    if not user:
        # Don't retry - user doesn't exist
        raise TerminalError(f"User {user_id} not found")
    return {"user_id": user_id, "email": user["email"]}
