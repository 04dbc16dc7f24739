# Extracted from the seed 000_7ebd5d4e42c3a968.txt, code block 3 (line 73), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

from edda import EddaApp, workflow, activity, WorkflowContext

@activity
async def process_payment(ctx: WorkflowContext, amount: float):
    print(f"Processing payment: ${amount}")
    return {"status": "paid", "amount": amount}

@workflow
async def order_workflow(ctx: WorkflowContext, order_id: str, amount: float):
    result = await process_payment(ctx, amount)
    return {"order_id": order_id, **result}

async def main():
    app = EddaApp(service_name="demo-service", db_url="sqlite:///workflow.db")
    await app.initialize()
    try:
        instance_id = await order_workflow.start(order_id="ORD-123", amount=99.99)
        print(f"Started workflow: {instance_id}")
    finally:
        await app.shutdown()
