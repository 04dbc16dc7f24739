# Extracted from the seed 003_98fb4c9670be06ad.txt, code block 3 (line 236), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

@app.on_event("order.created")
async def handle_order_created(event):
    await order_workflow.start(...)
