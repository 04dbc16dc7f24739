# Extracted from the seed 001_0341209f201d6937.readme.md, code block 24 (line 578), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# Also in: 001_0341209f201d6937.txt block 24, 002_253876707cc4721c.txt block 20.
# ruff: noqa
# fmt: off

from edda import EddaApp

app = EddaApp(
    db_url="sqlite:///workflow.db",
    service_name="order-service",
    outbox_enabled=True  # Enable transactional outbox
)

# Accepts CloudEvents at any HTTP path
