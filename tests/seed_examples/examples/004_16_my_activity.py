# Extracted from the seed 004_9542d0c1ed65aa6c.txt, code block 16 (line 230), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

@activity
async def my_activity(ctx: WorkflowContext, param: str):
    # Get current step number (read-only property)
    step = ctx.current_step
    # Check if replaying
    if ctx.is_replaying:
        print("Replaying from history")
    return {"step": step, "param": param}
