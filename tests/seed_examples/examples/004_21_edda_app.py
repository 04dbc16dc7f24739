# Extracted from the seed 004_9542d0c1ed65aa6c.txt, code block 21 (line 358), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

# Worker 1, Worker 2, Worker 3 (same code on different machines)
from edda import EddaApp
app = EddaApp(
    db_url="postgresql://yourdbinstance/workflows", # Shared database
    service_name="order-service"
)
