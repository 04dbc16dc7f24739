# Extracted from the seed 001_0341209f201d6937.readme.md, code block 11 (line 287), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# Also in: 001_0341209f201d6937.txt block 11, 002_253876707cc4721c.txt block 7.

# Run tests
uv run pytest

# Run with coverage
uv run pytest --cov=edda
