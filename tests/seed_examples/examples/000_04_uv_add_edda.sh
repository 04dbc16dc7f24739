# Extracted from the seed 000_7ebd5d4e42c3a968.txt, code block 4 (line 96), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# Also in: 002_253876707cc4721c.txt block 3.

# Basic installation (includes SQLite support)
uv add edda-framework
# With PostgreSQL support
uv add edda-framework --extra postgresql
# With MySQL support
uv add edda-framework --extra mysql
# With Viewer UI
uv add edda-framework --extra viewer
# All extras (PostgreSQL, MySQL, Viewer UI)
uv add edda-framework --extra postgresql --extra mysql --extra viewer
