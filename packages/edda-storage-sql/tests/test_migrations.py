"""Schema migrations: applied by initialize(), idempotent, safe under concurrent start-up, usable by dbmate/psql."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from edda.exceptions import ConfigurationError
from edda_storage_sql import SQLAlchemyStorage, migrations_dir
from edda_storage_sql._migrations import _sections, load_migrations, split_statements
from edda_storage_sql._url import parse_database_url

from .conftest import fresh_database, server_url

VERSIONS = ["0001", "0002", "0003", "0004", "0005", "0006", "0007"]
TABLES = {
    "edda_instances",
    "edda_history",
    "edda_outbox",
    "edda_channels",
    "edda_channel_messages",
    "edda_channel_subscriptions",
    "edda_workers",
}
SERVER_DIALECTS = [
    pytest.param("postgresql", marks=pytest.mark.postgres),
    pytest.param("mysql", marks=pytest.mark.mysql),
]


def test_migration_files_are_dbmate_shaped() -> None:
    for dialect in ("sqlite", "postgresql", "mysql"):
        migrations = load_migrations(dialect)
        assert [m.version for m in migrations] == VERSIONS
        for m in migrations:
            body = m.path.read_text()
            assert body.count("-- migrate:up") == 1 and body.count("-- migrate:down") == 1
            assert m.up and m.down
            assert m.path.parent == migrations_dir(dialect)
    assert migrations_dir("postgres") == migrations_dir("postgresql")
    assert migrations_dir("mariadb") == migrations_dir("mysql")
    with pytest.raises(ConfigurationError, match="sqlite, postgresql, mysql"):
        migrations_dir("oracle")


def test_split_statements_handles_comments_and_quotes() -> None:
    script = "-- a; comment\nCREATE TABLE a (x TEXT DEFAULT 'a;b'); -- trailing; comment\n\nSELECT \"q;\" ;\n"
    assert split_statements(script) == ["CREATE TABLE a (x TEXT DEFAULT 'a;b')", 'SELECT "q;"']


async def _tables(storage: SQLAlchemyStorage) -> set[str]:
    if storage.dialect == "sqlite":
        tx = storage.begin()
        conn = await tx.connection()
        rows = (await conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'"))).all()
        await tx.rollback()
    else:
        sql = (
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
            if storage.dialect == "postgresql"
            else "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()"
        )
        async with storage.engine.connect() as conn:
            rows = (await conn.execute(text(sql))).all()
    return {r[0] for r in rows}


async def _versions(storage: SQLAlchemyStorage) -> list[str]:
    tx = storage.begin()
    conn = await tx.connection()
    rows = (await conn.execute(text("SELECT version FROM schema_migrations ORDER BY version"))).all()
    await tx.rollback()
    return [str(r[0]) for r in rows]


async def _check_fresh_and_idempotent(url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="edda_storage_sql")
    storage = SQLAlchemyStorage(url)
    await storage.initialize()
    await storage.initialize()  # idempotent on the same object
    assert TABLES <= await _tables(storage)
    assert await _versions(storage) == VERSIONS
    await storage.close()
    again = SQLAlchemyStorage(url)
    await again.initialize()  # a second start finds everything applied
    assert await _versions(again) == VERSIONS
    await again.close()
    applied = [r for r in caplog.records if "Applied Edda schema migration" in r.getMessage()]
    assert len(applied) == len(VERSIONS)


async def test_sqlite_fresh_database_gets_schema_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    await _check_fresh_and_idempotent(f"sqlite:///{tmp_path / 'm.db'}", caplog)


@pytest.mark.parametrize("dialect", SERVER_DIALECTS)
async def test_server_fresh_database_gets_schema_once(dialect: str, caplog: pytest.LogCaptureFixture) -> None:
    with fresh_database(dialect) as url:
        await _check_fresh_and_idempotent(url, caplog)


async def _concurrent_start(url: str, caplog: pytest.LogCaptureFixture, workers: int = 4) -> None:
    caplog.set_level(logging.INFO, logger="edda_storage_sql")
    storages = [SQLAlchemyStorage(url) for _ in range(workers)]
    await asyncio.gather(*(s.initialize() for s in storages))
    appliers = [s for s in storages if s._applied]
    assert len(appliers) == 1 and appliers[0]._applied == VERSIONS
    applied = [r for r in caplog.records if "Applied Edda schema migration" in r.getMessage()]
    assert len(applied) == len(VERSIONS)
    assert await _versions(storages[0]) == VERSIONS
    await asyncio.gather(*(s.close() for s in storages))


async def test_sqlite_concurrent_start_migrates_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    await _concurrent_start(f"sqlite:///{tmp_path / 'c.db'}", caplog)


async def test_sqlite_start_waits_for_a_lock_on_a_new_file(tmp_path: Path) -> None:
    # A new file is in rollback-journal mode; while another connection holds its write lock, SQLite fails
    # "PRAGMA journal_mode=WAL" at once, without calling the busy handler (seen in CI: processes starting together).
    path = tmp_path / "locked.db"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("CREATE TABLE someone_elses (x INTEGER)")
    loop = asyncio.get_running_loop()
    released = loop.run_in_executor(None, lambda: (time.sleep(0.3), other.execute("COMMIT")))
    storage = SQLAlchemyStorage(f"sqlite:///{path}")
    try:
        await storage.initialize()
        assert await _versions(storage) == VERSIONS
    finally:
        await released
        other.close()
        await storage.close()
    with sqlite3.connect(path) as check:
        assert check.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert check.execute("SELECT count(*) FROM someone_elses").fetchone()[0] == 0


@pytest.mark.parametrize("dialect", SERVER_DIALECTS)
async def test_server_concurrent_start_migrates_once(dialect: str, caplog: pytest.LogCaptureFixture) -> None:
    with fresh_database(dialect) as url:
        await _concurrent_start(url, caplog)


async def _check_not_migrated(url: str) -> None:
    storage = SQLAlchemyStorage(url, auto_migrate=False)
    with pytest.raises(ConfigurationError) as info:
        await storage.initialize()
    message = str(info.value)
    dialect = parse_database_url(url).dialect
    assert "auto_migrate=False" in message and "0001, 0002, 0003, 0004, 0005, 0006, 0007" in message
    assert str(migrations_dir(dialect)) in message and "dbmate" in message
    await storage.close()


async def test_sqlite_auto_migrate_false_on_empty_database(tmp_path: Path) -> None:
    await _check_not_migrated(f"sqlite:///{tmp_path / 'empty.db'}")


@pytest.mark.parametrize("dialect", SERVER_DIALECTS)
async def test_server_auto_migrate_false_on_empty_database(dialect: str) -> None:
    with fresh_database(dialect) as url:
        await _check_not_migrated(url)


# -- the files apply with plain SQL clients and give the same schema -------------------------------------------------


def _up_script(dialect: str) -> str:
    parts = [_sections(m.path.read_text())[0] for m in load_migrations(dialect)]
    versions = ", ".join(f"('{v}')" for v in VERSIONS)
    record = (
        f"CREATE TABLE IF NOT EXISTS schema_migrations (version VARCHAR(128) NOT NULL PRIMARY KEY);\n"
        f"INSERT INTO schema_migrations (version) VALUES {versions};\n"
    )
    return "\n".join(parts) + "\n" + record


def _client(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"the {name} command-line client is not installed")
    return path


async def _schema(url: str) -> Any:
    dialect = parse_database_url(url).dialect
    if dialect == "sqlite":
        conn = sqlite3.connect(parse_database_url(url).sqlite_path or "")
        try:
            rows = conn.execute(
                "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name"
            ).fetchall()
        finally:
            conn.close()
        return rows
    engine = create_async_engine(parse_database_url(url).url)
    if dialect == "postgresql":
        queries = [
            "SELECT table_name, column_name, data_type, is_nullable, column_default, character_maximum_length, "
            "collation_name FROM information_schema.columns WHERE table_schema = current_schema() "
            "ORDER BY table_name, column_name",
            "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
            "ORDER BY indexname",
        ]
    else:
        queries = [
            "SELECT table_name, column_name, column_type, is_nullable, column_default, collation_name "
            "FROM information_schema.columns WHERE table_schema = DATABASE() ORDER BY table_name, column_name",
            "SELECT table_name, index_name, seq_in_index, column_name, non_unique FROM information_schema.statistics "
            "WHERE table_schema = DATABASE() ORDER BY table_name, index_name, seq_in_index",
        ]
    async with engine.connect() as conn:
        result = [(await conn.execute(text(q))).all() for q in queries]
    await engine.dispose()
    return result


async def test_sqlite_files_apply_with_sqlite3_client(tmp_path: Path) -> None:
    client = _client("sqlite3")
    by_client = tmp_path / "client.db"
    await asyncio.to_thread(
        subprocess.run, [client, "-bail", str(by_client)], input=_up_script("sqlite"), text=True, check=True
    )
    auto = SQLAlchemyStorage(f"sqlite:///{tmp_path / 'auto.db'}")
    await auto.initialize()
    await auto.close()
    assert await _schema(f"sqlite:///{by_client}") == await _schema(f"sqlite:///{tmp_path / 'auto.db'}")
    manual = SQLAlchemyStorage(f"sqlite:///{by_client}", auto_migrate=False)  # recognizes the recorded versions
    await manual.initialize()
    await manual.close()


@pytest.mark.postgres
async def test_postgresql_files_apply_with_psql() -> None:
    client = _client("psql")
    with fresh_database("postgresql") as by_client, fresh_database("postgresql") as auto_url:
        url = make_url(by_client)
        env = {**os.environ, "PGPASSWORD": url.password or ""}
        await asyncio.to_thread(
            subprocess.run,
            [
                client,
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                url.host or "127.0.0.1",
                "-p",
                str(url.port or 5432),
                "-U",
                url.username or "postgres",
                "-d",
                url.database or "",
            ],
            input=_up_script("postgresql"),
            text=True,
            check=True,
            env=env,
            capture_output=True,
        )
        auto = SQLAlchemyStorage(auto_url)
        await auto.initialize()
        await auto.close()
        assert await _schema(by_client) == await _schema(auto_url)
        manual = SQLAlchemyStorage(by_client, auto_migrate=False)
        await manual.initialize()
        await manual.close()


@pytest.mark.mysql
async def test_mysql_files_apply_with_mysql_client() -> None:
    client = _client("mysql")
    server_url("mysql")
    with fresh_database("mysql") as by_client, fresh_database("mysql") as auto_url:
        url = make_url(by_client)
        env = {**os.environ, "MYSQL_PWD": url.password or ""}
        await asyncio.to_thread(
            subprocess.run,
            [
                client,
                "-h",
                url.host or "127.0.0.1",
                "-P",
                str(url.port or 3306),
                "-u",
                url.username or "root",
                url.database or "",
            ],
            input=_up_script("mysql"),
            text=True,
            check=True,
            env=env,
            capture_output=True,
        )
        auto = SQLAlchemyStorage(auto_url)
        await auto.initialize()
        await auto.close()
        assert await _schema(by_client) == await _schema(auto_url)
        manual = SQLAlchemyStorage(by_client, auto_migrate=False)
        await manual.initialize()
        await manual.close()


def test_wheel_ships_the_migration_files() -> None:
    root = Path(__file__).resolve().parents[1]
    config = (root / "pyproject.toml").read_text()
    assert 'packages = ["src/edda_storage_sql"]' in config
    for dialect in ("sqlite", "postgresql", "mysql"):
        assert sorted(p.name for p in migrations_dir(dialect).glob("*.sql")) == [
            "0001_init.sql",
            "0002_channels.sql",
            "0003_workers.sql",
            "0004_message_targets.sql",
            "0005_message_anchor.sql",
            "0006_message_ids.sql",
            "0007_subscription_indexes.sql",
        ]
