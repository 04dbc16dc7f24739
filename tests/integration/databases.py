"""Throwaway databases for integration tests on SQLite, PostgreSQL and MySQL/MariaDB.

PostgreSQL and MySQL run only when EDDA_TEST_POSTGRES_URL / EDDA_TEST_MYSQL_URL point at a server; each test gets
a database of its own with a random name, dropped afterwards, so runs never interfere.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit, urlunsplit

import pytest

HOW_TO = {
    "postgresql": "set EDDA_TEST_POSTGRES_URL=postgresql://user@host:5432/db to run the PostgreSQL tests",
    "mysql": "set EDDA_TEST_MYSQL_URL=mysql://user@host:3306/db to run the MySQL tests",
}
ENV = {"postgresql": "EDDA_TEST_POSTGRES_URL", "mysql": "EDDA_TEST_MYSQL_URL"}


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


@asynccontextmanager
async def temporary_database(kind: str, tmp_path: os.PathLike[str]) -> AsyncIterator[str]:
    """Yield the URL of a fresh, empty database of ``kind`` (sqlite, postgresql, mysql); drop it afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{os.fspath(tmp_path)}/edda-{secrets.token_hex(4)}.db"
        return
    base = os.environ.get(ENV[kind])
    if not base:
        pytest.skip(HOW_TO[kind])
    name = f"edda_it_{secrets.token_hex(6)}"
    parts = urlsplit(base)
    if kind == "postgresql":
        import asyncpg

        admin = await asyncpg.connect(
            host=parts.hostname,
            port=parts.port or 5432,
            user=parts.username,
            password=parts.password,
            database=(parts.path or "/postgres")[1:] or "postgres",
        )
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield _with_database(base, name)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()
    else:
        import aiomysql

        admin = await aiomysql.connect(
            host=parts.hostname,
            port=parts.port or 3306,
            user=parts.username or "root",
            password=parts.password or "",
            autocommit=True,
        )
        async with admin.cursor() as cur:
            await cur.execute(f"CREATE DATABASE `{name}`")
        try:
            yield _with_database(base, name)
        finally:
            async with admin.cursor() as cur:
                await cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
            admin.close()
