# Extracted from the seed 001_0341209f201d6937.readme.md, code block 10 (line 276), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# Also in: 001_0341209f201d6937.txt block 10.

# Clone repository
git clone https://github.com/i2y/edda.git
cd edda
uv sync --all-extras
