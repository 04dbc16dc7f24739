# Extracted from the seed 004_9542d0c1ed65aa6c.txt, code block 23 (line 384), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

from pydantic import BaseModel, Field
from edda import workflow, WorkflowContext

class OrderInput(BaseModel):
    order_id: str = Field(..., pattern=r"^ORD-\d+$")
    customer_email: str
    amount: float = Field(..., gt=0)

class OrderResult(BaseModel):
    order_id: str
    status: str
    total: float

@workflow
async def process_order(
    ctx: WorkflowContext,
    input: OrderInput # Pydantic model
) -> OrderResult:  # Pydantic model
    # Input is automatically validated
    total = input.amount * 1.1  # Add 10% tax
    return OrderResult(
        order_id=input.order_id,
        status="completed",
        total=total
    )
