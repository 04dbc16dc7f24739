# Extracted from the seed 003_98fb4c9670be06ad.txt, code block 1 (line 196), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# Also in: 003_98fb4c9670be06ad.txt block 16.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

result = await app.find_instances(input_filters={"order_id": "ORD-123"})
for instance in result["instances"]:
    print(f"{instance['instance_id']}: {instance['status']}")
