# Extracted from the seed 003_98fb4c9670be06ad.txt, code block 25 (line 1158), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

event = await wait_event(ctx, "payment.completed", model=PaymentCompleted)
amount = event.data.amount  # Type-safe access
order_id = event.data.order_id  # IDE completion
