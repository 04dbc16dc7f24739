# Extracted from the seed 003_98fb4c9670be06ad.txt, code block 19 (line 979), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

from datetime import datetime, timedelta, UTC

@workflow
async def scheduled_report(ctx: WorkflowContext, report_id: str):
    # Schedule for tomorrow at 9 AM
    tomorrow_9am = datetime.now(UTC).replace(hour=9, minute=0, second=0)
    tomorrow_9am += timedelta(days=1)
    await sleep_until(ctx, tomorrow_9am)
    await generate_report(ctx, report_id, activity_id="generate:1")
