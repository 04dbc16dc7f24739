"""Counting a benchmark database's PostgreSQL transactions (runner side).

Two counts, both taken between the database's creation and the child's exit:

* ``xacts``: ``pg_stat_database.xact_commit``, every committed transaction including read-only ones. A backend
  publishes this counter about once a second while busy but up to ~10 s later once idle; it always publishes it
  before leaving ``pg_stat_activity`` on exit, so a snapshot waits until no session is connected.
* ``wal_commits``: durable commits, i.e. WAL ``COMMIT`` records of transactions that wrote to this database
  (read-only transactions write no commit record). Read with ``pg_walinspect`` over the snapshot's LSN range, from
  a private ``bench_*`` database holding the extension, made once per suite. ``None`` when the extension is not
  available or the WAL was recycled.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from benchmarks.databases import Backend, PgAdmin, check_name, open_backend, redact

_SESSIONS_GONE_TIMEOUT_S = 15.0
_FLUSH_TIMEOUT_S = 5.0
_POLL_S = 0.1


@dataclass(frozen=True)
class Snapshot:
    xacts: int
    lsn: str


@dataclass(frozen=True)
class Counts:
    xacts: int
    wal_commits: int | None

    def minus(self, other: Counts) -> Counts:
        wal = None if self.wal_commits is None or other.wal_commits is None else self.wal_commits - other.wal_commits
        return Counts(xacts=self.xacts - other.xacts, wal_commits=wal)


class CommitCounter:
    def __init__(self, admin: PgAdmin) -> None:
        self._admin = admin
        self._inspector: Backend | None = None
        self._inspector_name = ""
        self.wal_problem = ""

    async def open(self) -> None:
        """Prepare the pg_walinspect database; on failure only ``xacts`` is counted (see ``wal_problem``)."""
        try:
            database = await self._admin.create()
            self._inspector_name = database.name
            self._inspector, _ = await open_backend(database.url)
            await self._inspector.execute("CREATE EXTENSION IF NOT EXISTS pg_walinspect")
        except Exception as exc:
            self.wal_problem = f"pg_walinspect unavailable ({type(exc).__name__}: {redact(str(exc))[:200]})"
            await self.close()

    async def close(self) -> None:
        if self._inspector is not None:
            with contextlib.suppress(Exception):
                await self._inspector.close()
            self._inspector = None
        if self._inspector_name:
            with contextlib.suppress(Exception):
                await self._admin.drop(self._inspector_name)
            self._inspector_name = ""

    async def snapshot(self, name: str) -> Snapshot:
        """Counters of database ``name`` once none of its sessions is left; WAL flushed up to the returned LSN."""
        check_name(name)
        for _ in range(int(_SESSIONS_GONE_TIMEOUT_S / _POLL_S)):
            if not int(await self._admin.fetchval(f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{name}'")):
                break
            await asyncio.sleep(_POLL_S)
        xacts = int(
            await self._admin.fetchval(f"SELECT xact_commit FROM pg_stat_database WHERE datname = '{name}'") or 0
        )
        lsn = str(await self._admin.fetchval("SELECT pg_current_wal_insert_lsn()::text"))
        flushed = f"SELECT pg_current_wal_flush_lsn() >= '{lsn}'::pg_lsn"
        for _ in range(int(_FLUSH_TIMEOUT_S / _POLL_S)):
            if str(await self._admin.fetchval(flushed)).lower() in {"true", "t"}:
                break
            await asyncio.sleep(_POLL_S)
        return Snapshot(xacts=xacts, lsn=lsn)

    async def counts(self, name: str, before: Snapshot, after: Snapshot) -> Counts:
        return Counts(xacts=after.xacts - before.xacts, wal_commits=await self._wal_commits(name, before, after))

    async def wal_stats(self, name: str, start_lsn: str, end_lsn: str) -> tuple[int, int] | None:
        """``(durable commits, WAL bytes)`` of database ``name`` between two LSNs: transactions that committed and
        wrote to it, and the length of the WAL records that touch its files (heap, index, TOAST; full-page images
        included). ``None`` if the WAL cannot be read (extension missing, segments already recycled)."""
        if self._inspector is None:
            return None
        check_name(name)
        oid = int(await self._admin.fetchval(f"SELECT oid FROM pg_database WHERE datname = '{name}'"))
        sql = f"""
            WITH r AS (
                SELECT xid::text AS x, resource_manager AS rm, record_type AS rt, record_length AS len,
                       block_ref LIKE '%/{oid}/%' AS ours
                FROM pg_get_wal_records_info('{start_lsn}'::pg_lsn, '{end_lsn}'::pg_lsn)
            )
            SELECT (SELECT count(*) FROM (SELECT x FROM r WHERE x <> '0' GROUP BY x
                        HAVING bool_or(rm = 'Transaction' AND rt LIKE 'COMMIT%') AND bool_or(ours)) AS c)
                   || ' ' || (SELECT COALESCE(sum(len), 0) FROM r WHERE ours)
        """
        try:
            commits, size = str(await self._inspector.fetchval(sql)).split()
        except Exception:
            return None
        return int(commits), int(size)

    async def _wal_commits(self, name: str, before: Snapshot, after: Snapshot) -> int | None:
        if self._inspector is None:
            return None
        oid = int(await self._admin.fetchval(f"SELECT oid FROM pg_database WHERE datname = '{name}'"))
        # One pass, grouped by transaction: it committed, and some record of it touched this database's files.
        sql = f"""
            SELECT count(*) FROM (
                SELECT xid::text
                FROM pg_get_wal_records_info('{before.lsn}'::pg_lsn, '{after.lsn}'::pg_lsn)
                GROUP BY xid::text
                HAVING bool_or(resource_manager = 'Transaction' AND record_type LIKE 'COMMIT%')
                   AND bool_or(block_ref LIKE '%/{oid}/%')
            ) AS committed_writers
        """
        try:
            return int(await self._inspector.fetchval(sql))
        except Exception as exc:
            self.wal_problem = f"WAL not readable ({type(exc).__name__}: {redact(str(exc))[:200]})"
            return None
