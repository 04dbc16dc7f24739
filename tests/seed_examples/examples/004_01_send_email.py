# Extracted from the seed 004_9542d0c1ed65aa6c.txt, code block 1 (line 7), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

from edda import activity, WorkflowContext

@activity
async def send_email(ctx: WorkflowContext, email: str, message: str):
    """Business logic - sends an actual email"""
    # Call external email service
    response = await email_service.send(email, message)
    return {"sent": True, "message_id": response.id}
