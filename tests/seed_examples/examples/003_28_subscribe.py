# Extracted from the seed 003_98fb4c9670be06ad.txt, code block 28 (line 1215), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

# Instead of this:
direct_channel = f"notifications:{ctx.instance_id}"
await subscribe(ctx, direct_channel, mode="broadcast")
msg = await receive(ctx, direct_channel)

# You can write:
await subscribe(ctx, "notifications", mode="direct")
msg = await receive(ctx, "notifications")
