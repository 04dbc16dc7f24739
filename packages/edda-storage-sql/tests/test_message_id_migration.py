"""Migration 0006 (a message id is stored once) on a database that already holds duplicate message ids, on every
backend: nothing stored is dropped, the duplicates are renamed, and the id then dedupes new deliveries."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from edda.storage.records import NewMessage
from edda_storage_sql import SQLAlchemyStorage
from edda_storage_sql._migrations import _sections, load_migrations, split_statements
from edda_storage_sql._url import parse_database_url

from .conftest import fresh_database

T0 = datetime(2026, 1, 1, tzinfo=UTC)
BEFORE = ["0001", "0002", "0003", "0004", "0005"]
ROWS = [("ce-same", "paid", '{"n": 1}'), ("ce-same", "paid", '{"n": 2}'), ("other", "paid", '{"n": 3}')]


def _statements(dialect: str) -> list[str]:
    """The up-migrations before 0006, the version table, and three messages of which two share an id."""
    statements: list[str] = []
    for migration in load_migrations(dialect):
        if migration.version in BEFORE:
            statements += split_statements(_sections(migration.path.read_text())[0])
    statements.append("CREATE TABLE IF NOT EXISTS schema_migrations (version VARCHAR(128) NOT NULL PRIMARY KEY)")
    statements.append("INSERT INTO schema_migrations (version) VALUES " + ", ".join(f"('{v}')" for v in BEFORE))
    published = {"sqlite": "1767225600000000", "postgresql": "'2026-01-01 00:00:00+00'"}.get(
        dialect, "'2026-01-01 00:00:00'"
    )
    for message_id, channel, data in ROWS:
        statements.append(
            "INSERT INTO edda_channel_messages (message_id, channel, data, metadata, published_at) "
            f"VALUES ('{message_id}', '{channel}', '{data}', '{{}}', {published})"
        )
    return statements


async def _prepare(url: str) -> None:
    target = parse_database_url(url)
    if target.dialect == "sqlite":
        conn = sqlite3.connect(target.sqlite_path or "")
        try:
            for statement in _statements("sqlite"):
                conn.execute(statement)
            conn.commit()
        finally:
            conn.close()
        return
    engine = create_async_engine(target.url)
    async with engine.begin() as conn:
        for statement in _statements(target.dialect):
            await conn.execute(text(statement))
    await engine.dispose()


async def _check(url: str) -> None:
    await _prepare(url)
    storage = SQLAlchemyStorage(url)
    await storage.initialize()  # applies 0006
    try:
        tx = storage.begin()
        conn = await tx.connection()
        rows = (await conn.execute(text("SELECT seq, message_id, data FROM edda_channel_messages ORDER BY seq"))).all()
        await tx.rollback()
        assert [(r[1], r[2]) for r in rows] == [
            ("ce-same", '{"n": 1}'),
            (f"ce-same#dup-{rows[1][0]}", '{"n": 2}'),  # kept, renamed
            ("other", '{"n": 3}'),
        ]
        record, woken = await storage.publish(NewMessage("ce-same", "paid", {"n": 4}), now=T0)
        assert record.seq == rows[0][0] and record.data == {"n": 1} and woken == ()
    finally:
        await storage.close()


async def test_sqlite_duplicates_survive_the_migration(tmp_path: Path) -> None:
    await _check(f"sqlite:///{tmp_path}/old.db")


@pytest.mark.postgres
async def test_postgresql_duplicates_survive_the_migration() -> None:
    with fresh_database("postgresql") as url:
        await _check(url)


@pytest.mark.mysql
async def test_mysql_duplicates_survive_the_migration() -> None:
    with fresh_database("mysql") as url:
        await _check(url)
