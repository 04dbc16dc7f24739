# Extracted from the seed 003_98fb4c9670be06ad.txt, code block 27 (line 1174), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

try:
    event = await wait_event(ctx, "payment.completed", timeout_seconds=60)

except EventTimeoutError:  # Handle timeout - maybe send reminder or cancel order
    await send_notification("Payment timeout")
