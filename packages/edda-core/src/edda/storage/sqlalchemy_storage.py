"""Seed-compatible import path: ``from edda.storage.sqlalchemy_storage import SQLAlchemyStorage``.

The implementation lives in the ``edda-storage-sql`` package (``edda_storage_sql``); this shim forwards to it.
"""

from __future__ import annotations

try:
    from edda_storage_sql import SQLAlchemyStorage  # pyright: ignore[reportAttributeAccessIssue]
except ModuleNotFoundError as exc:  # pragma: no cover - exercised by a subprocess test without the package
    if exc.name != "edda_storage_sql":  # installed but broken (a dependency of its own is missing): say that instead
        raise
    raise ImportError(
        "SQLAlchemyStorage lives in the edda-storage-sql package, which is not installed. "
        'Install it with: pip install "edda-storage-sql[sqlite]" (or [postgresql], [mysql]).'
    ) from exc

__all__ = ["SQLAlchemyStorage"]
