"""Profiles of the scale benchmarks and the scripts that make them (see benchmarks/README.md)."""
