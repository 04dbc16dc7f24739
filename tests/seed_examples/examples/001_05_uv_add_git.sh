# Extracted from the seed 001_0341209f201d6937.readme.md, code block 5 (line 187), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# Also in: 001_0341209f201d6937.txt block 5, 002_253876707cc4721c.txt block 4.

# Using uv (latest from main branch)
uv add git+https://github.com/i2y/edda.git

# Using pip
pip install git+https://github.com/i2y/edda.git
