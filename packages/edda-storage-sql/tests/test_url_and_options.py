"""URL normalization, option validation and capabilities (no database needed)."""

from __future__ import annotations

import pytest

import edda_storage_sql
from edda.exceptions import ConfigurationError
from edda_storage_sql import SQLAlchemyStorage
from edda_storage_sql._url import parse_database_url


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("sqlite:///x.db", "sqlite+aiosqlite"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite"),
        ("postgresql://u@h/db", "postgresql+asyncpg"),
        ("postgres://u@h/db", "postgresql+asyncpg"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg"),
        ("mysql://u@h/db", "mysql+aiomysql"),
        ("mariadb://u@h/db", "mysql+aiomysql"),
        ("mysql+aiomysql://u@h/db", "mysql+aiomysql"),
        ("mariadb+aiomysql://u@h/db", "mariadb+aiomysql"),
    ],
)
def test_urls_get_their_async_driver(url: str, driver: str) -> None:
    assert parse_database_url(url).url.drivername == driver


def test_url_parts_are_kept() -> None:
    target = parse_database_url("postgres://user:pw@db.example:6543/app?sslmode=require")
    assert (target.host, target.port, target.url.database, target.url.username) == ("db.example", 6543, "app", "user")
    assert target.url.query == {"sslmode": "require"}
    assert parse_database_url("mysql://u@h/db").port == 3306
    assert parse_database_url("postgresql://u@h/db").port == 5432


def test_sqlite_paths_and_memory() -> None:
    assert parse_database_url("sqlite:///rel/app.db").sqlite_path == "rel/app.db"
    assert parse_database_url("sqlite:////abs/app.db").sqlite_path == "/abs/app.db"
    for memory in ("sqlite://", "sqlite:///:memory:"):
        assert parse_database_url(memory).in_memory


@pytest.mark.parametrize(
    "url", ["postgresql+psycopg2://u:pw@h/db", "mysql+pymysql://u:pw@h/db", "sqlite+pysqlite:///x"]
)
def test_sync_drivers_are_rejected_with_advice(url: str) -> None:
    with pytest.raises(ConfigurationError, match="async driver") as info:
        parse_database_url(url)
    assert "pw" not in str(info.value)


def test_unknown_scheme_and_missing_database() -> None:
    with pytest.raises(ConfigurationError, match="oracle"):
        parse_database_url("oracle://u:secret@h/db")
    with pytest.raises(ConfigurationError, match="names no database"):
        parse_database_url("postgresql://u:secret@h")


def test_description_never_shows_credentials() -> None:
    storage = SQLAlchemyStorage("postgresql://alice:hunter2@db.internal:5433/orders")
    for text in (repr(storage), parse_database_url("postgresql://alice:hunter2@db.internal:5433/orders").describe()):
        assert "hunter2" not in text and "alice" not in text
        assert "db.internal:5433" in text and "PostgreSQL" in text


def test_from_url_rejects_unknown_options_and_lists_valid_ones() -> None:
    with pytest.raises(ConfigurationError) as info:
        SQLAlchemyStorage.from_url("sqlite:///x.db", pool_sise=3)
    message = str(info.value)
    assert "pool_sise" in message
    for valid in (
        "pool_size",
        "max_overflow",
        "pool_timeout",
        "pool_recycle",
        "pool_pre_ping",
        "auto_migrate",
        "max_payload_bytes",
        "echo",
    ):
        assert valid in message


@pytest.mark.parametrize(
    "options",
    [
        {"pool_size": 0},
        {"max_overflow": -1},
        {"pool_timeout": 0},
        {"pool_pre_ping": "yes"},
        {"auto_migrate": 1},
        {"max_payload_bytes": 0},
        {"pool_size": True},
    ],
)
def test_invalid_option_values(options: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        SQLAlchemyStorage.from_url("postgresql://u@h/db", **options)  # type: ignore[arg-type]


def test_from_url_does_no_io_and_accepts_pool_options_for_sqlite(tmp_path: object) -> None:
    storage = SQLAlchemyStorage.from_url(
        "sqlite:////nonexistent/dir/x.db",
        pool_size=20,
        max_overflow=0,
        pool_timeout=5,
        pool_recycle=-1,
        pool_pre_ping=False,
        auto_migrate=True,
        max_payload_bytes=1024,
        echo=False,
    )
    assert storage.dialect == "sqlite"


def test_capabilities() -> None:
    sqlite = SQLAlchemyStorage("sqlite:///x.db", max_payload_bytes=1234).capabilities
    assert (sqlite.sessions, sqlite.multi_process, sqlite.single_process_takeover) == (True, False, True)
    assert sqlite.max_payload_bytes == 1234
    for url in ("postgresql://u@h/db", "mysql://u@h/db"):
        caps = SQLAlchemyStorage(url).capabilities
        assert (caps.sessions, caps.multi_process, caps.single_process_takeover) == (True, True, False)
        assert caps.max_payload_bytes == 16 * 1024 * 1024
    assert SQLAlchemyStorage("sqlite:///x.db", max_payload_bytes=None).capabilities.max_payload_bytes is None


def test_public_names() -> None:
    assert sorted(edda_storage_sql.__all__) == ["SQLAlchemyStorage", "SQLTransaction", "migrations_dir"]


async def test_operations_before_initialize_say_so() -> None:
    storage = SQLAlchemyStorage("sqlite://")
    with pytest.raises(RuntimeError, match="initialize"):
        await storage.get_instance("x")
    with pytest.raises(RuntimeError, match="initialize"):
        storage.begin()
