# Extracted from the seed 001_0341209f201d6937.readme.md, code block 31 (line 745), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# Also in: 001_0341209f201d6937.txt block 31, 002_253876707cc4721c.txt block 23.

# Run standalone
uvicorn demo_app:application --port 8001
