"""FLOOR: the raw durable-commit rate of the drivers, one INSERT + COMMIT per iteration on one connection.

Run by the runner as ``python -m benchmarks.floor`` in an interpreter that has ``aiosqlite`` and ``asyncpg``.
Variants (see :data:`benchmarks.spec.FLOOR_VARIANTS`):

* ``aiosqlite wal+FULL`` / ``aiosqlite wal+NORMAL``: ``journal_mode=WAL`` with ``synchronous=FULL`` (fsync on
  every commit) or ``NORMAL`` (WAL fsynced only at checkpoints: durable against crashes of the process, not of
  the machine);
* ``aiosqlite delete+FULL``: SQLite's defaults (rollback journal), which is what a store that sets no pragma gets;
* ``asyncpg txn``: ``BEGIN; INSERT; COMMIT`` (three round trips, server defaults: fsync, synchronous_commit=on);
* ``asyncpg autocommit``: a single implicit-transaction ``INSERT`` (one round trip).
"""

from __future__ import annotations

import sqlite3
import sys
import time
from importlib import metadata
from typing import Any

from benchmarks.harness import BenchError, run_child
from benchmarks.spec import Job

_PAYLOAD = '{"instance_id": "bench-0000", "activity": "add_one:1", "result": 42}'
_WARMUP_ITERATIONS = 50
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
        self._conn: Any = None

    async def setup(self) -> dict[str, Any]:
        import asyncpg

        self._conn = await asyncpg.connect(self.job.db_url)
        await self._conn.execute("CREATE TABLE floor_probe (id BIGSERIAL PRIMARY KEY, payload TEXT NOT NULL)")
        names = ("fsync", "synchronous_commit", "wal_sync_method")
        settings = {name: await self._conn.fetchval(f"SHOW {name}") for name in names}
        return {"system": "floor", "version": f"asyncpg {metadata.version('asyncpg')}", "server_settings": settings}

    async def _transaction(self) -> None:
        async with self._conn.transaction():
            await self._conn.execute("INSERT INTO floor_probe (payload) VALUES ($1)", _PAYLOAD)

    async def _autocommit(self) -> None:
        await self._conn.execute("INSERT INTO floor_probe (payload) VALUES ($1)", _PAYLOAD)

    def _iteration(self) -> Any:
        return self._transaction if self.job.variant == "asyncpg txn" else self._autocommit

    async def warmup(self) -> None:
        iteration = self._iteration()
        for _ in range(_WARMUP_ITERATIONS):
            await iteration()

    async def measure(self) -> dict[str, Any]:
        return await _timed_loop(self._iteration(), self.job)

    async def teardown(self) -> None:
        if self._conn is not None:
            await self._conn.close()


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


def _make(job: Job) -> SqliteFloor | PostgresFloor:
    if job.db == "sqlite":
        return SqliteFloor(job)
    return PostgresFloor(job)


if __name__ == "__main__":
    sys.exit(run_child(_make))
