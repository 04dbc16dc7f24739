# Extracted from the seed 003_98fb4c9670be06ad.txt, code block 32 (line 1360), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

async def api_handler(request):
    message_id = await publish(app.storage, "jobs", {"task": "process"})
    return {"message_id": message_id}
