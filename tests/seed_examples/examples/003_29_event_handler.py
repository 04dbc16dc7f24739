# Extracted from the seed 003_98fb4c9670be06ad.txt, code block 29 (line 1225), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

@workflow
async def event_handler(ctx: WorkflowContext, id: str):
    # Subscribe to order events (all handlers receive all events)
    await subscribe(ctx, "order.events", mode="broadcast")

    while True:
        event = await receive(ctx, "order.events")
        await handle_event(ctx, event.data, activity_id=f"handle:{event.id}")
        await ctx.recur()

@workflow
async def job_worker(ctx: WorkflowContext, worker_id: str):
    # Subscribe to job queue (each job processed by one worker)
    await subscribe(ctx, "jobs", mode="competing")

    while True:
        job = await receive(ctx, "jobs")
        await execute_job(ctx, job.data, activity_id=f"job:{job.id}")
        await ctx.recur()

@workflow
async def direct_receiver(ctx: WorkflowContext, id: str):
    # Subscribe to receive direct messages via send_to()
    await subscribe(ctx, "notifications", mode="direct")

    msg = await receive(ctx, "notifications")
    print(f"Received: {msg.data}")
