"""MySQL/MariaDB databases for benchmark runs (runner side): ``bench_<12 hex>`` created on the server of
``EDDA_BENCH_MYSQL_URL`` (default ``mysql://root@127.0.0.1:3306/test``) and dropped afterwards, like PostgreSQL's
(see :mod:`benchmarks.databases`). Administration goes through aiomysql, which the workspace has; URLs are never
printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from benchmarks.databases import Provisioned, check_name, redact

MYSQL_URL_ENV = "EDDA_BENCH_MYSQL_URL"
DEFAULT_MYSQL_URL = "mysql://root@127.0.0.1:3306/test"
_RECONNECT_ATTEMPTS = 10


def _lost_errors() -> tuple[type[BaseException], ...]:
    """What a dropped connection raises (the server restarted, or closed an idle connection)."""
    from pymysql import err

    return (OSError, ConnectionError, err.OperationalError, err.InterfaceError)


class MyAdmin:
    """Creates and drops ``bench_*`` databases on a MySQL/MariaDB server; runs admin queries."""

    def __init__(self, url: str, conn: Any) -> None:
        self._url = url
        self._conn = conn
        self.kind = "aiomysql"

    @staticmethod
    async def _open(url: str) -> Any:
        import aiomysql

        parts = urlsplit(url)
        return await aiomysql.connect(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 3306,
            user=unquote(parts.username or "root"),
            password=unquote(parts.password or ""),
            autocommit=True,
            connect_timeout=10,
        )

    @classmethod
    async def connect(cls, url: str | None = None) -> MyAdmin:
        url = url or os.environ.get(MYSQL_URL_ENV) or DEFAULT_MYSQL_URL
        try:
            conn = await cls._open(url)
        except ImportError:
            raise RuntimeError("MySQL admin needs aiomysql in the runner environment") from None
        except Exception as exc:
            raise RuntimeError(f"cannot reach MySQL ({type(exc).__name__}: {redact(str(exc))})") from None
        return cls(url, conn)

    def url_for(self, name: str) -> str:
        parts = urlsplit(self._url)
        return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))

    async def _execute(self, sql: str) -> list[tuple[Any, ...]]:
        for attempt in range(_RECONNECT_ATTEMPTS):
            try:
                if self._conn is None:
                    self._conn = await self._open(self._url)
                async with self._conn.cursor() as cursor:
                    await cursor.execute(sql)
                    return list(await cursor.fetchall())
            except _lost_errors() as exc:
                if attempt == _RECONNECT_ATTEMPTS - 1:
                    raise RuntimeError(f"MySQL admin: {type(exc).__name__}: {redact(str(exc))}") from None
                with contextlib.suppress(Exception):
                    if self._conn is not None:
                        self._conn.close()
                self._conn = None
                await asyncio.sleep(1.0)
        raise AssertionError("unreachable")

    async def fetchval(self, sql: str) -> Any:
        rows = await self._execute(sql)
        return rows[0][0] if rows else None

    async def create(self) -> Provisioned:
        name = "bench_" + secrets.token_hex(6)
        await self._execute(f"CREATE DATABASE `{name}`")
        return Provisioned(db="mysql", url=self.url_for(name), name=name)

    async def drop(self, name: str) -> None:
        check_name(name)
        await self._execute(f"DROP DATABASE IF EXISTS `{name}`")

    async def size(self, name: str) -> int:
        """Data + index bytes of the database's tables (InnoDB's own estimate, refreshed by its statistics)."""
        check_name(name)
        value = await self.fetchval(
            "SELECT COALESCE(SUM(data_length + index_length), 0) FROM information_schema.tables "
            f"WHERE table_schema = '{name}'"
        )
        return int(value or 0)

    async def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
