# Extracted from the seed 003_98fb4c9670be06ad.txt, code block 33 (line 1364), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

await publish(
    storage, "payment.completed", {"amount": 100},
    target_instance_id="order-123", worker_id="worker-1"
)
