# Extracted from the seed 003_98fb4c9670be06ad.txt, code block 23 (line 1107), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

order = OrderCreated(order_id="123", amount=99.99)
await send_event("order.created", "order-service", order)
