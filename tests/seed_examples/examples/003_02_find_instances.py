# Extracted from the seed 003_98fb4c9670be06ad.txt, code block 2 (line 200), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# Also in: 003_98fb4c9670be06ad.txt block 17.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

result = await app.find_instances(
    input_filters={"customer_id": "CUST-456"},
    status="running"
)
