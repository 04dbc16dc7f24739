# Extracted from the seed 003_98fb4c9670be06ad.txt, code block 12 (line 757), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

if ctx.in_transaction():
    await send_event_transactional(ctx, "order.created", ...)

else:
    logger.warning("Not in transaction, using outbox pattern")
    await send_event_transactional(ctx, "order.created", ...)
