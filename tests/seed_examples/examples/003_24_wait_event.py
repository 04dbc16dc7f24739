# Extracted from the seed 003_98fb4c9670be06ad.txt, code block 24 (line 1154), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

event = await wait_event(ctx, "payment.completed")
amount = event.data["amount"]
order_id = event.data["order_id"]
