"""Runner side of probes (see :mod:`benchmarks.probes`): what the runner measures for a child between its phases.

A snapshot holds, as far as the database kind allows:

* ``db_bytes``: SQLite: the database's pages in use (``page_count - freelist_count`` times ``page_size``, read
  through a read-only connection, so the WAL's committed pages count); PostgreSQL: ``pg_database_size``; MySQL:
  InnoDB's data + index estimate (``information_schema.tables``);
* ``group_cpu_s``, ``group_write_bytes``: CPU seconds and bytes written to storage (``/proc/<pid>/io``
  ``write_bytes``) of the child's process group (the child and its helper processes), per live process;
* ``server_cpu_s``: CPU seconds of the database server processes doing this database's work: PostgreSQL, the
  backends connected to it; MySQL, the whole ``mariadbd``/``mysqld`` process (shared with anyone else using it);
* ``busy_s``, ``total_s``: the machine's busy and total CPU seconds (all cores, every process);
* ``lsn`` (PostgreSQL): the WAL insert position.

The reply's ``delta`` is the change since the child's previous probe; CPU and write figures are summed over the
processes seen at both probes plus those that appeared since. With ``wal: true`` a PostgreSQL delta also holds
``commits`` and ``wal_bytes`` of this database (see :meth:`benchmarks.commits.CommitCounter.wal_stats`).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Awaitable, Callable
from typing import Any

from benchmarks.commits import CommitCounter
from benchmarks.databases import PgAdmin, Provisioned, check_name
from benchmarks.mysqladmin import MyAdmin
from benchmarks.probes import cpu_seconds, io_write_bytes, machine_cpu, process_group, processes_named

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
_MYSQL_SERVERS = ("mariadbd", "mysqld")


def _sqlite_bytes(path: str) -> int | None:
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error:
        return None
    try:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
        return int((pages - free) * page_size)
    except sqlite3.Error:
        return None
    finally:
        conn.close()


def _per_pid(pids: list[int], read: Callable[[int], float | int | None]) -> dict[int, float]:
    values: dict[int, float] = {}
    for pid in pids:
        value = read(pid)
        if value is not None:
            values[pid] = float(value)
    return values


def _growth(before: dict[int, float], after: dict[int, float]) -> float:
    """What the processes of ``after`` added since ``before`` (new processes count from zero)."""
    return sum(value - before.get(pid, 0.0) for pid, value in after.items())


class Prober:
    """Answers the probes of one child on one database (created once the child's pid is known)."""

    def __init__(
        self,
        database: Provisioned,
        pgid: int,
        pg: PgAdmin | None = None,
        my: MyAdmin | None = None,
        counter: CommitCounter | None = None,
    ) -> None:
        self.database = database
        self.pgid = pgid
        self.pg = pg
        self.my = my
        self.counter = counter
        self._last: dict[str, Any] | None = None
        self.log: list[dict[str, Any]] = []

    async def _server_pids(self) -> list[int]:
        if self.database.db == "postgres" and self.pg is not None:
            check_name(self.database.name)
            text = await self.pg.fetchval(
                "SELECT COALESCE(string_agg(pid::text, ' '), '') FROM pg_stat_activity "
                f"WHERE datname = '{self.database.name}'"
            )
            return [int(pid) for pid in str(text or "").split()]
        if self.database.db == "mysql":
            return processes_named(_MYSQL_SERVERS)
        return []

    async def _db_bytes(self) -> int | None:
        db = self.database
        if db.db == "sqlite":
            return await asyncio.to_thread(_sqlite_bytes, db.name)
        if db.db == "postgres" and self.pg is not None:
            check_name(db.name)
            return int(await self.pg.fetchval(f"SELECT pg_database_size('{db.name}')"))
        if db.db == "mysql" and self.my is not None:
            return await self.my.size(db.name)
        return None

    async def snapshot(self) -> dict[str, Any]:
        group = process_group(self.pgid)
        server = await self._server_pids()
        busy, total = machine_cpu()
        snap: dict[str, Any] = {
            "t": time.monotonic(),
            "db_bytes": await self._db_bytes(),
            "group_cpu": _per_pid(group, cpu_seconds),
            "group_write": _per_pid(group, io_write_bytes),
            "server_cpu": _per_pid(server, cpu_seconds),
            "busy_s": busy,
            "total_s": total,
        }
        if self.database.db == "postgres" and self.pg is not None:
            snap["lsn"] = str(await self.pg.fetchval("SELECT pg_current_wal_insert_lsn()::text"))
        return snap

    async def _delta(self, before: dict[str, Any], after: dict[str, Any], wal: bool) -> dict[str, Any]:
        delta: dict[str, Any] = {
            "seconds": after["t"] - before["t"],
            "group_cpu_s": _growth(before["group_cpu"], after["group_cpu"]),
            "group_write_bytes": _growth(before["group_write"], after["group_write"]),
            "server_cpu_s": _growth(before["server_cpu"], after["server_cpu"]),
            "busy_s": after["busy_s"] - before["busy_s"],
            "total_s": after["total_s"] - before["total_s"],
        }
        if before["db_bytes"] is not None and after["db_bytes"] is not None:
            delta["db_bytes"] = after["db_bytes"] - before["db_bytes"]
        if wal and self.counter is not None and "lsn" in before:
            stats = await self.counter.wal_stats(self.database.name, before["lsn"], after["lsn"])
            if stats is not None:
                delta["commits"], delta["wal_bytes"] = stats
        return delta

    async def __call__(self, message: dict[str, Any]) -> dict[str, Any]:
        snap = await self.snapshot()
        reply: dict[str, Any] = {"label": message.get("label", ""), "db_bytes": snap["db_bytes"]}
        if self._last is not None:
            reply["delta"] = await self._delta(self._last, snap, bool(message.get("wal")))
        self._last = snap
        self.log.append({"label": reply["label"], "db_bytes": snap["db_bytes"], "delta": reply.get("delta")})
        return reply
