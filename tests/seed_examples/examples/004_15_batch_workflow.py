# Extracted from the seed 004_9542d0c1ed65aa6c.txt, code block 15 (line 212), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

@workflow
async def batch_workflow(ctx: WorkflowContext, item_ids: list[str]):
    results = []
    for i, item_id in enumerate(item_ids):
        # Use dynamic activity_id for each iteration
        result = await process_item(
            ctx, item_id, activity_id=f"process_item:{i+1}"
        )
        results.append(result)
    return {"processed": len(results)}
