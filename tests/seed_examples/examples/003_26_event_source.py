# Extracted from the seed 003_98fb4c9670be06ad.txt, code block 26 (line 1162), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

event_source = event.source
event_time = event.time
event_id = event.id
