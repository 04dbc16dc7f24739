# Extracted from the seed 004_9542d0c1ed65aa6c.txt, code block 7 (line 96), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

@workflow
async def resilient_workflow(ctx: WorkflowContext, user_id: str):
    # Step 1: Call external API (retries automatically on network errors)
    user_data = await fetch_user_data(ctx, user_id)
    # ✅ Retry: Immediate exponential backoff (max 5 attempts)
    # 💥 Process crashes here
    # Step 2: Save to database
    await save_user(ctx, user_data)
    # ✅ Crash Recovery: Workflow replays from history (Step 1 cached)
