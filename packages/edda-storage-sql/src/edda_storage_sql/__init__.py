"""SQL storage for Edda: SQLite, PostgreSQL and MySQL/MariaDB through SQLAlchemy asyncio.

``EddaApp(db_url="sqlite:///app.db")`` finds this package through the ``edda.storage`` entry points; use
:class:`SQLAlchemyStorage` directly to pass options (pool sizes, ``auto_migrate``, the payload limit).
:func:`migrations_dir` is where the dbmate-compatible schema files of a dialect live.
"""

from __future__ import annotations

from edda_storage_sql._migrations import migrations_dir
from edda_storage_sql._storage import SQLAlchemyStorage
from edda_storage_sql._transaction import SQLTransaction

__all__ = ["SQLAlchemyStorage", "SQLTransaction", "migrations_dir"]
