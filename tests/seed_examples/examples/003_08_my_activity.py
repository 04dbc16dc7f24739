# Extracted from the seed 003_98fb4c9670be06ad.txt, code block 8 (line 554), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

result1 = await my_activity(ctx, arg1)  # Auto: "my_activity:1"
result2 = await my_activity(ctx, arg2)  # Auto: "my_activity:2"
