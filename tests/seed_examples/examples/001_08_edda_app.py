# Extracted from the seed 001_0341209f201d6937.readme.md, code block 8 (line 251), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# Also in: 001_0341209f201d6937.txt block 8.
# ruff: noqa
# fmt: off

# Disable auto-migration
app = EddaApp(
    db_url="postgresql://...",
    auto_migrate=False  # Use dbmate-managed schema
)
