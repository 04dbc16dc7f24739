# Extracted from the seed 003_98fb4c9670be06ad.txt, code block 41 (line 1774), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

@activity
async def reserve_inventory_typed(ctx: WorkflowContext, order_id: str) -> dict:
    reservation_id = str(uuid.uuid4())
    event = InventoryReserved(
        order_id=order_id,
        reservation_id=reservation_id,
    )
    await send_event_transactional(
        ctx,
        event_type="inventory.reserved",
        event_source="order-service",
        event_data=event,
    )
    return {"reservation_id": reservation_id}
