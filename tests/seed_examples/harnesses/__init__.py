"""Harnesses that run the seed examples (see run.py and docs/seed-examples.md)."""
