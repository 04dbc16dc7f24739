# Extracted from the seed 003_98fb4c9670be06ad.txt, code block 34 (line 1410), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

@workflow
async def approver(ctx: WorkflowContext, request_id: str):
    decision = await review(ctx, request_id, activity_id="review:1")
    await send_to(ctx, instance_id=request_id, data={"approved": decision})
