# Extracted from the seed 003_98fb4c9670be06ad.txt, code block 14 (line 817), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

async with ctx.transaction():  # Save order to database
    await ctx.storage.append_history(...)

    # Defer message delivery until after commit
    async def deliver_notifications():
        await notify_subscribers(order_id)
    ctx.register_post_commit(deliver_notifications)
