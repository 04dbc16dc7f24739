# Extracted from the seed 003_98fb4c9670be06ad.txt, code block 7 (line 463), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

@workflow(lock_timeout_seconds=600)
async def long_running_workflow(ctx: WorkflowContext, **kwargs):
    # This workflow will use a 10-minute lock timeout instead of the default 5 minutes
    pass
