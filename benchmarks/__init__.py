"""Edda benchmark suite.

Run from the repository root with ``uv run python -m benchmarks run``. This package must stay importable with the
standard library alone: peer adapters import :mod:`benchmarks.harness` from inside their own virtualenvs.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
