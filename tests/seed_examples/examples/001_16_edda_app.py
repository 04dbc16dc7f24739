# Extracted from the seed 001_0341209f201d6937.readme.md, code block 16 (line 389), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# Also in: 001_0341209f201d6937.txt block 16, 002_253876707cc4721c.txt block 12.
# ruff: noqa
# fmt: off

from edda import EddaApp, RetryPolicy

app = EddaApp(
    db_url="sqlite:///workflow.db",
    default_retry_policy=RetryPolicy(
        max_attempts=10,
        initial_interval=2.0
    )
)
