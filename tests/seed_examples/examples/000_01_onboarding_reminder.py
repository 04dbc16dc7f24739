# Extracted from the seed 000_7ebd5d4e42c3a968.txt, code block 1 (line 31), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

@workflow
async def onboarding_reminder(ctx: WorkflowContext, user_id: str):
    await wait_timer(ctx, duration_seconds=3*24*60*60)  # Wait 3 days
    if not await check_completed(ctx, user_id):
        await send_reminder(ctx, user_id)
