# Extracted from the seed 003_98fb4c9670be06ad.txt, code block 30 (line 1303), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

@workflow
async def consumer(ctx: WorkflowContext, id: str):
    await subscribe(ctx, "tasks", mode="competing")

    while True:
        msg = await receive(ctx, "tasks")
        await process(ctx, msg.data, activity_id=f"process:{msg.id}")
        await ctx.recur()
