# Extracted from the seed 003_98fb4c9670be06ad.txt, code block 13 (line 785), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

@workflow
async def notification_service(ctx: WorkflowContext, processed_count: int = 0):
    await join_group(ctx, group="order_watchers")

    count = 0
    while True:
        msg = await wait_message(ctx, channel="order.completed")
        await send_notification(ctx, msg.data, activity_id=f"notify:{msg.id}")

        count += 1
        if count >= 1000:
            # Reset history every 1000 iterations
            await ctx.recur(processed_count=processed_count + count)
            # Code after recur() is never executed
