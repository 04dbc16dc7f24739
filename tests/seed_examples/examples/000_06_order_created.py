# Extracted from the seed 000_7ebd5d4e42c3a968.txt, code block 6 (line 126), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

# Send binary data (e.g., Protobuf)
msg = OrderCreated(order_id="123", amount=99.99)
await send_event("order.created", "orders", msg.SerializeToString())  # bytes → BLOB
# Receive binary data
payment = PaymentCompleted()
payment.ParseFromString(event.data)  # bytes from BLOB
