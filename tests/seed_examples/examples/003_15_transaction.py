# Extracted from the seed 003_98fb4c9670be06ad.txt, code block 15 (line 832), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

async with ctx.transaction():  # All operations here are in the same transaction
    await ctx.storage.append_history(...)
    await send_event_transactional(ctx, ...)  # If any operation fails, all changes are rolled back
