# Extracted from the seed 003_98fb4c9670be06ad.txt, code block 47 (line 2260), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

@activity
async def validate_user(ctx: WorkflowContext, user_id: str):
    user = await fetch_user(user_id)
    if not user:  # Don't retry - user doesn't exist
        raise TerminalError(f"User {user_id} not found")
    return user
