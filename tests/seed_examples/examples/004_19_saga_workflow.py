# Extracted from the seed 004_9542d0c1ed65aa6c.txt, code block 19 (line 287), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

# Compensation functions
@compensation
async def undo_a(ctx: WorkflowContext):
    print("A: Undo")

@compensation
async def undo_b(ctx: WorkflowContext):
    print("B: Undo")

# Activities with compensation links
@activity
@on_failure(undo_a)
async def step_a(ctx: WorkflowContext):
    print("A: Execute")
    return {"status": "done"}

@activity
@on_failure(undo_b)
async def step_b(ctx: WorkflowContext):
    print("B: Execute")
    return {"status": "done"}

@activity
async def step_c(ctx: WorkflowContext):
    print("C: Execute")
    raise Exception("C failed!")

@workflow
async def saga_workflow(ctx: WorkflowContext):
    await step_a(ctx)
    await step_b(ctx)
    await step_c(ctx)  # Fails!
    return {"status": "completed"}
