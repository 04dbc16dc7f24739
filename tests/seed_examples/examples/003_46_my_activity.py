# Extracted from the seed 003_98fb4c9670be06ad.txt, code block 46 (line 2241), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

try:
    await my_activity(ctx)

except RetryExhaustedError as e:  # Error message: "Activity failed after 5 attempts: ..."
    print(f"Retries exhausted: {e}")

    # Access original error via __cause__
    original_error = e.__cause__
    if isinstance(original_error, NetworkError):
        logger.error("Network issue detected")
