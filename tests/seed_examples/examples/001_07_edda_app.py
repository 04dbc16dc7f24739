# Extracted from the seed 001_0341209f201d6937.readme.md, code block 7 (line 238), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# Also in: 001_0341209f201d6937.txt block 7.
# ruff: noqa
# fmt: off

from edda import EddaApp

# Migrations are applied automatically
app = EddaApp(db_url="postgresql://user:pass@localhost/dbname")
