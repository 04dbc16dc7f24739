# Extracted from the seed 001_0341209f201d6937.readme.md, code block 1 (line 62), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# Also in: 001_0341209f201d6937.txt block 1.
# ruff: noqa
# fmt: off

@workflow
async def onboarding_reminder(ctx: WorkflowContext, user_id: str):
    await sleep(ctx, seconds=3*24*60*60)  # Wait 3 days
    if not await check_completed(ctx, user_id):
        await send_reminder(ctx, user_id)
