# Extracted from the seed 003_98fb4c9670be06ad.txt, code block 11 (line 672), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

@activity
async def create_order(ctx: WorkflowContext, order_id: str, amount: float):  # Get Edda-managed session
    session = ctx.session

    # Your business logic (same DB as Edda)
    order = Order(order_id=order_id, amount=amount)
    session.add(order)

    # Event publishing (same transaction)
    await send_event_transactional(
        ctx, "order.created", "order-service",
        {"order_id": order_id, "amount": amount}
    )

    # Edda commits automatically (or rolls back on error)
    return {"order_id": order_id, "status": "created"}
