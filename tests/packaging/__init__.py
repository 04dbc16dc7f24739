"""Packaging: metadata, READMEs, wheels, fresh installs and upgrades from 0.16.2."""
