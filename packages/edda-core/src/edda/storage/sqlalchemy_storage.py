"""Seed-compatible import path: ``from edda.storage.sqlalchemy_storage import SQLAlchemyStorage``.

The implementation lives in the ``edda-storage-sql`` package (``edda_storage_sql``); this shim forwards to it.
"""

from __future__ import annotations

try:
    from edda_storage_sql import SQLAlchemyStorage  # pyright: ignore[reportAttributeAccessIssue]
except ImportError as exc:  # pragma: no cover - exercised by a subprocess test without the package
    raise ImportError(
        "SQLAlchemyStorage lives in the edda-storage-sql package, which is not installed. "
        'Install it with: pip install "edda-storage-sql[sqlite]" (or [postgresql], [mysql]).'
    ) from exc

__all__ = ["SQLAlchemyStorage"]
