# Extracted from the seed 004_9542d0c1ed65aa6c.txt, code block 6 (line 81), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

from edda import activity, WorkflowContext

@activity  # Automatically retries 5 times (default)
async def call_external_api(ctx: WorkflowContext, url: str):
    response = await http_client.get(url)
    return {"data": response.json()}
