# Extracted from the seed 003_98fb4c9670be06ad.txt, code block 22 (line 1103), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

await send_event("order.created", "order-service", {"order_id": "123"})
