# Extracted from the seed 003_98fb4c9670be06ad.txt, code block 9 (line 559), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

results = await asyncio.gather(
    my_activity(ctx, arg1, activity_id="my_activity:1"),
    my_activity(ctx, arg2, activity_id="my_activity:2"),
)
