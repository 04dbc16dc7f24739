# Extracted from the seed 004_9542d0c1ed65aa6c.txt, code block 4 (line 58), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

@workflow
async def long_running_workflow(ctx: WorkflowContext, user_id: str):
    print(f"Step 0: Starting workflow for {user_id}")
    # Step 1: Create user (1 second)
    result1 = await create_user(ctx, user_id)
    print("Step 1: User created")
    # Step 2: Send email (2 seconds)
    result2 = await send_welcome_email(ctx, result1["email"])
    print("Step 2: Email sent")
    # Step 3: Setup profile (1 second)
    result3 = await setup_profile(ctx, user_id)
    print("Step 3: Profile setup")
    return result3
