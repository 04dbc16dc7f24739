"""FLOOR: the raw durable-commit rate of the drivers, one INSERT + COMMIT per iteration on one connection.

Run by the runner as ``python -m benchmarks.floor`` in an interpreter that has ``aiosqlite`` and ``asyncpg``.
Variants (see :data:`benchmarks.spec.FLOOR_VARIANTS`):

* ``aiosqlite wal+FULL`` / ``aiosqlite wal+NORMAL``: ``journal_mode=WAL`` with ``synchronous=FULL`` (fsync on
  every commit) or ``NORMAL`` (WAL fsynced only at checkpoints: durable against crashes of the process, not of
  the machine);
* ``aiosqlite delete+FULL``: SQLite's defaults (rollback journal), which is what a store that sets no pragma gets;
* ``asyncpg txn``: ``BEGIN; INSERT; COMMIT`` (three round trips, server defaults: fsync, synchronous_commit=on);
* ``asyncpg autocommit``: a single implicit-transaction ``INSERT`` (one round trip);
* ``aiomysql txn`` / ``aiomysql autocommit``: the same on MySQL/MariaDB (server defaults: InnoDB,
  ``innodb_flush_log_at_trx_commit=1``);
* ``... txn x8``: eight connections each running ``txn`` at once: the commits per second the server reaches when
  several clients commit together (its group commit), which W9's worker processes share.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import time
from importlib import metadata
from typing import Any
from urllib.parse import unquote, urlsplit

from benchmarks.harness import BenchError, run_child
from benchmarks.spec import Job

_PAYLOAD = '{"instance_id": "bench-0000", "activity": "add_one:1", "result": 42}'
_WARMUP_ITERATIONS = 50
PARALLEL = 8  # connections of the "x8" variants
_SQLITE_PRAGMAS = {
    "aiosqlite wal+FULL": ("WAL", "FULL"),
    "aiosqlite wal+NORMAL": ("WAL", "NORMAL"),
    "aiosqlite delete+FULL": ("DELETE", "FULL"),
}


class SqliteFloor:
    def __init__(self, job: Job) -> None:
        self.job = job
        self._db: Any = None

    async def setup(self) -> dict[str, Any]:
        import aiosqlite

        journal, synchronous = _SQLITE_PRAGMAS[self.job.variant]
        self._db = await aiosqlite.connect(self.job.sqlite_path, isolation_level=None)
        mode = (await (await self._db.execute(f"PRAGMA journal_mode={journal}")).fetchone())[0]
        if mode.upper() != journal:
            raise BenchError(f"journal_mode {journal} refused (got {mode})")
        await self._db.execute(f"PRAGMA synchronous={synchronous}")
        await self._db.execute("CREATE TABLE floor_probe (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)")
        return {
            "system": "floor",
            "version": f"aiosqlite {metadata.version('aiosqlite')}, SQLite {sqlite3.sqlite_version}",
            "pragmas": {"journal_mode": journal, "synchronous": synchronous},
        }

    async def _iteration(self) -> None:
        await self._db.execute("BEGIN")
        await self._db.execute("INSERT INTO floor_probe (payload) VALUES (?)", (_PAYLOAD,))
        await self._db.execute("COMMIT")

    async def warmup(self) -> None:
        for _ in range(_WARMUP_ITERATIONS):
            await self._iteration()

    async def measure(self) -> dict[str, Any]:
        return await _timed_loop(self._iteration, self.job)

    async def teardown(self) -> None:
        if self._db is not None:
            await self._db.close()


class PostgresFloor:
    def __init__(self, job: Job) -> None:
        self.job = job
        self._conns: list[Any] = []

    async def setup(self) -> dict[str, Any]:
        import asyncpg

        count = PARALLEL if self.job.variant.endswith("x8") else 1
        self._conns = [await asyncpg.connect(self.job.db_url) for _ in range(count)]
        conn = self._conns[0]
        await conn.execute("CREATE TABLE floor_probe (id BIGSERIAL PRIMARY KEY, payload TEXT NOT NULL)")
        names = ("fsync", "synchronous_commit", "wal_sync_method")
        settings = {name: await conn.fetchval(f"SHOW {name}") for name in names}
        return {"system": "floor", "version": f"asyncpg {metadata.version('asyncpg')}", "server_settings": settings}

    def _iteration(self, conn: Any) -> Any:
        async def transaction() -> None:
            async with conn.transaction():
                await conn.execute("INSERT INTO floor_probe (payload) VALUES ($1)", _PAYLOAD)

        async def autocommit() -> None:
            await conn.execute("INSERT INTO floor_probe (payload) VALUES ($1)", _PAYLOAD)

        return autocommit if self.job.variant == "asyncpg autocommit" else transaction

    async def warmup(self) -> None:
        for conn in self._conns:
            iteration = self._iteration(conn)
            for _ in range(_WARMUP_ITERATIONS):
                await iteration()

    async def measure(self) -> dict[str, Any]:
        return await _parallel_loops([self._iteration(conn) for conn in self._conns], self.job)

    async def teardown(self) -> None:
        for conn in self._conns:
            await conn.close()


class MysqlFloor:
    def __init__(self, job: Job) -> None:
        self.job = job
        self._conns: list[Any] = []

    async def setup(self) -> dict[str, Any]:
        import aiomysql

        parts = urlsplit(self.job.db_url)
        count = PARALLEL if self.job.variant.endswith("x8") else 1
        for _ in range(count):
            conn = await aiomysql.connect(
                host=parts.hostname or "127.0.0.1",
                port=parts.port or 3306,
                user=unquote(parts.username or "root"),
                password=unquote(parts.password or ""),
                db=parts.path.lstrip("/"),
                autocommit=True,
            )
            self._conns.append(conn)
        async with self._conns[0].cursor() as cursor:
            await cursor.execute(
                "CREATE TABLE floor_probe (id BIGINT AUTO_INCREMENT PRIMARY KEY, payload TEXT NOT NULL) ENGINE=InnoDB"
            )
            await cursor.execute("SELECT @@innodb_flush_log_at_trx_commit, @@sync_binlog, @@version")
            flush, sync_binlog, server = await cursor.fetchone()
        settings = {"innodb_flush_log_at_trx_commit": flush, "sync_binlog": sync_binlog, "server": server}
        return {"system": "floor", "version": f"aiomysql {metadata.version('aiomysql')}", "server_settings": settings}

    def _iteration(self, conn: Any) -> Any:
        async def transaction() -> None:
            async with conn.cursor() as cursor:
                await cursor.execute("BEGIN")
                await cursor.execute("INSERT INTO floor_probe (payload) VALUES (%s)", (_PAYLOAD,))
                await cursor.execute("COMMIT")

        async def autocommit() -> None:
            async with conn.cursor() as cursor:
                await cursor.execute("INSERT INTO floor_probe (payload) VALUES (%s)", (_PAYLOAD,))

        return autocommit if self.job.variant == "aiomysql autocommit" else transaction

    async def warmup(self) -> None:
        for conn in self._conns:
            iteration = self._iteration(conn)
            for _ in range(_WARMUP_ITERATIONS):
                await iteration()

    async def measure(self) -> dict[str, Any]:
        return await _parallel_loops([self._iteration(conn) for conn in self._conns], self.job)

    async def teardown(self) -> None:
        for conn in self._conns:
            conn.close()


async def _parallel_loops(iterations: list[Any], job: Job) -> dict[str, Any]:
    """One :func:`_timed_loop` per connection, at once; iterations add up."""
    if len(iterations) == 1:
        return await _timed_loop(iterations[0], job)
    started = time.perf_counter()
    results = await asyncio.gather(*(_timed_loop(iteration, job) for iteration in iterations))
    wall = time.perf_counter() - started
    done = sum(result["iterations"] for result in results)
    return {"iterations": done, "wall_s": wall, "throughput": done / wall, "connections": len(iterations)}


async def _timed_loop(iteration: Any, job: Job) -> dict[str, Any]:
    """Run ``iteration`` until ``duration_s`` elapsed or ``max_iterations`` reached, whichever comes first."""
    done = 0
    started = time.perf_counter()
    stop_at = started + job.duration_s
    while done < job.max_iterations and time.perf_counter() < stop_at:
        await iteration()
        done += 1
    wall = time.perf_counter() - started
    return {"iterations": done, "wall_s": wall, "throughput": done / wall}


def _make(job: Job) -> SqliteFloor | PostgresFloor | MysqlFloor:
    if job.db == "sqlite":
        return SqliteFloor(job)
    if job.db == "mysql":
        return MysqlFloor(job)
    return PostgresFloor(job)


if __name__ == "__main__":
    sys.exit(run_child(_make))
