# Extracted from the seed 002_253876707cc4721c.txt, code block 6 (line 243), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.

# Clone repository
git clone https://github.com/i2y/edda.git
cd kairo
uv sync --all-extras
