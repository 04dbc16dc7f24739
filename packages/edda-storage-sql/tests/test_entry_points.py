"""The ``edda.storage`` entry points and the core's seed-compatible import path resolve to this package."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points

from edda.storage import open_storage
from edda_storage_sql import SQLAlchemyStorage


def test_entry_points_are_declared() -> None:
    eps = {ep.name: ep.value for ep in entry_points(group="edda.storage")}
    for scheme in ("sqlite", "postgresql", "postgres", "mysql", "mariadb"):
        assert eps[scheme] == "edda_storage_sql:SQLAlchemyStorage"


def test_open_storage_resolves_sqlite(tmp_path: object) -> None:
    storage = open_storage(f"sqlite:///{tmp_path}/app.db")
    assert isinstance(storage, SQLAlchemyStorage) and storage.dialect == "sqlite"


def test_open_storage_resolves_driver_qualified_urls() -> None:
    storage = open_storage("postgresql+asyncpg://user:pw@127.0.0.1:1/db", pool_size=2)  # no I/O happens here
    assert isinstance(storage, SQLAlchemyStorage) and storage.dialect == "postgresql"
    assert isinstance(open_storage("mysql+aiomysql://u@h/db"), SQLAlchemyStorage)
    assert isinstance(open_storage("mariadb://u@h/db"), SQLAlchemyStorage)


def test_seed_import_path() -> None:
    from edda.storage.sqlalchemy_storage import SQLAlchemyStorage as Shim

    assert Shim is SQLAlchemyStorage


def test_importing_the_package_does_not_import_drivers() -> None:
    code = (
        "import sys, edda_storage_sql; "
        "print(sorted(m for m in ('asyncpg', 'aiomysql', 'aiosqlite', 'pymysql') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
