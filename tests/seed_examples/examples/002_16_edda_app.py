# Extracted from the seed 002_253876707cc4721c.txt, code block 16 (line 449), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

# Worker 1 and Worker 2 can run simultaneously
# Only one will acquire the lock for each workflow instance
app = EddaApp(
    db_url="postgresql://localhost/workflows", # Shared database for coordination
    service_name="order-service"
)
