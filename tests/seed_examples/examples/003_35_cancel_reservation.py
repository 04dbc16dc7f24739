# Extracted from the seed 003_98fb4c9670be06ad.txt, code block 35 (line 1520), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

@compensation
async def cancel_reservation(ctx: WorkflowContext, reservation_id: str):
    await cancel_api(reservation_id)
