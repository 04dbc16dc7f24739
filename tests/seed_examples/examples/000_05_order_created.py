# Extracted from the seed 000_7ebd5d4e42c3a968.txt, code block 5 (line 117), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

from google.protobuf import json_format
# Send: Protobuf → JSON dict
msg = OrderCreated(order_id="123", amount=99.99)
await send_event("order.created", "orders", json_format.MessageToDict(msg))
# Receive: JSON dict → Protobuf
payment = json_format.ParseDict(event.data, PaymentCompleted())
