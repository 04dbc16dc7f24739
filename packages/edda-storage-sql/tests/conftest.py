"""Fixtures: SQLite in ``tmp_path``; PostgreSQL and MySQL/MariaDB on the servers named by environment variables.

``EDDA_TEST_POSTGRES_URL`` / ``EDDA_TEST_MYSQL_URL`` point at a server (the database in the URL is only used to log
in). Each test session creates its own database ``edda_test_<random>`` there, tests empty its tables before use, and
the database is dropped at the end. Tests that need a pristine database (migrations) make their own with
:func:`fresh_database`. Without the variables those tests skip with instructions.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url

from edda_storage_sql import SQLAlchemyStorage

T = TypeVar("T")

POSTGRES_ENV = "EDDA_TEST_POSTGRES_URL"
MYSQL_ENV = "EDDA_TEST_MYSQL_URL"
SKIP_MESSAGES = {
    "postgresql": f"set {POSTGRES_ENV}=postgresql://user@host:5432/db to run PostgreSQL tests",
    "mysql": f"set {MYSQL_ENV}=mysql://user@host:3306/db to run MySQL/MariaDB tests",
}
EDDA_TABLES = (
    "edda_workers",
    "edda_channel_subscriptions",
    "edda_channel_messages",
    "edda_channels",
    "edda_outbox",
    "edda_history",
    "edda_instances",
)


def run_async(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion in a helper thread (its own event loop, invisible to pytest-asyncio)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, factory()).result()


def server_url(dialect: str) -> URL:
    raw = os.environ.get(POSTGRES_ENV if dialect == "postgresql" else MYSQL_ENV)
    if not raw:
        pytest.skip(SKIP_MESSAGES[dialect])
    return make_url(raw)


def _pg_admin(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


async def _pg_execute(url: URL, *statements: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_pg_admin(url))
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def _mysql_execute(url: URL, *statements: str) -> None:
    import pymysql

    conn = pymysql.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 3306,
        user=url.username or "root",
        password=url.password or "",
        database=url.database,
        autocommit=True,
    )
    try:
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
    finally:
        conn.close()


def create_database(dialect: str) -> tuple[str, str]:
    """Create an empty database ``edda_test_<random>``; returns its URL (bare scheme) and its name."""
    base = server_url(dialect)
    name = f"edda_test_{secrets.token_hex(6)}"
    if dialect == "postgresql":
        run_async(lambda: _pg_execute(base, f'CREATE DATABASE "{name}"'))
    else:
        _mysql_execute(base, f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    scheme = "postgresql" if dialect == "postgresql" else "mysql"
    return base.set(drivername=scheme, database=name).render_as_string(hide_password=False), name


def drop_database(dialect: str, name: str) -> None:
    base = server_url(dialect)
    if dialect == "postgresql":
        run_async(lambda: _pg_execute(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    else:
        _mysql_execute(base, f"DROP DATABASE IF EXISTS `{name}`")


@contextmanager
def fresh_database(dialect: str) -> Iterator[str]:
    """An empty database for the duration of the block; yields its URL."""
    url, name = create_database(dialect)
    try:
        yield url
    finally:
        drop_database(dialect, name)


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    with fresh_database("postgresql") as url:
        yield url


@pytest.fixture(scope="session")
def mysql_database() -> Iterator[str]:
    with fresh_database("mysql") as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Any) -> str:
    return f"sqlite:///{tmp_path / 'edda.db'}"


async def empty_tables(storage: SQLAlchemyStorage) -> None:
    """Delete every row of Edda's tables (the schema stays)."""
    async with storage.engine.begin() as conn:
        if storage.dialect == "postgresql":
            await conn.execute(text(f"TRUNCATE {', '.join(EDDA_TABLES)} RESTART IDENTITY"))
        else:
            for table in EDDA_TABLES:
                await conn.execute(text(f"DELETE FROM {table}"))


async def open_storage(url: str, **options: Any) -> SQLAlchemyStorage:
    storage = SQLAlchemyStorage(url, **options)
    await storage.initialize()
    return storage


@pytest.fixture
async def sqlite_storage(sqlite_url: str) -> AsyncIterator[SQLAlchemyStorage]:
    storage = await open_storage(sqlite_url)
    yield storage
    await storage.close()


@pytest.fixture
async def postgres_storage(postgres_database: str) -> AsyncIterator[SQLAlchemyStorage]:
    storage = await open_storage(postgres_database)
    await empty_tables(storage)
    yield storage
    await storage.close()


@pytest.fixture
async def mysql_storage(mysql_database: str) -> AsyncIterator[SQLAlchemyStorage]:
    storage = await open_storage(mysql_database)
    await empty_tables(storage)
    yield storage
    await storage.close()


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def any_storage(request: pytest.FixtureRequest) -> SQLAlchemyStorage:
    """The storage on each dialect in turn (server dialects skip without their URL)."""
    name = {"sqlite": "sqlite_storage", "postgresql": "postgres_storage", "mysql": "mysql_storage"}[request.param]
    return request.getfixturevalue(name)
