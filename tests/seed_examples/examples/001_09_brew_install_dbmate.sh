# Extracted from the seed 001_0341209f201d6937.readme.md, code block 9 (line 259), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# Also in: 001_0341209f201d6937.txt block 9.

# Install dbmate
brew install dbmate  # macOS

# Add schema submodule
git submodule add https://github.com/durax-io/schema.git schema

# Run migration manually
DATABASE_URL="postgresql://user:pass@localhost/dbname" dbmate -d ./schema/db/migrations/postgresql up
