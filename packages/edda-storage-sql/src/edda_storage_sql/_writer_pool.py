"""The pool of the SQLite writer connection: anyone who checks it out gets it from the writer, in turn.

On SQLite the storage's SQLAlchemy engine has exactly one connection, and the group-commit writer
(:mod:`edda_storage_sql._writer`) keeps it checked out. A user who reaches for ``app.storage.engine`` (to create their
own tables, say) would wait in the pool forever. This pool makes such a checkout ask the writer to step aside first
(:meth:`SQLiteWriter.request_hold`, the same turn an interactive transaction takes), and gives the writer its turn back
when the connection is returned. So ``engine.begin()``, ``engine.connect()`` and sessions bound to the engine all
work, commit on the same single writer connection (no "database is locked"), and hold Edda's writes of this process
only while they are checked out.

The writer's own checkouts are told apart by task: :meth:`WriterPool.writer_link` marks the task that checks out on
the writer's behalf. A task that holds the connection and then asks the storage for a write would wait for itself;
:meth:`WriterPool.held_by_current_task` lets the storage refuse that at once instead of hanging.

Alternatives rejected: a second engine on the same file for users (its write transactions and the writer's would
contend for SQLite's lock, turning a long user transaction into "database is locked" errors in Edda's writes, and an
in-memory database cannot be shared at all); refusing ``engine`` on SQLite (it is a documented attribute, and the
writer can lend its connection safely).
"""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass
from typing import Any

from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry

from edda_storage_sql._writer import Hold, SQLiteWriter, WriterLink

__all__ = ["WriterPool"]


def _current_task() -> asyncio.Task[Any] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:  # no running loop (a connection returned by the garbage collector at exit)
        return None


@dataclass(slots=True)
class _Lent:
    record: ConnectionPoolEntry
    hold: Hold
    task: asyncio.Task[Any] | None


class _MarkedLink:
    """The writer's link, marking the task that checks out for the writer so the pool does not make it wait for
    itself."""

    def __init__(self, inner: WriterLink, pool: WriterPool) -> None:
        self._inner = inner
        self._pool = pool

    async def acquire(self) -> sqlite3.Connection:
        self._pool._writer_task = _current_task()
        try:
            return await self._inner.acquire()
        finally:
            self._pool._writer_task = None

    async def release(self) -> None:
        await self._inner.release()


class WriterPool(AsyncAdaptedQueuePool):
    """A one-connection pool shared by the SQLite writer and everyone else (see the module docstring).

    Until :meth:`attach` it behaves as a plain pool (the writer's setup checks the connection out then).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._writer: SQLiteWriter | None = None
        self._writer_task: asyncio.Task[Any] | None = None
        self._lent: _Lent | None = None

    def attach(self, writer: SQLiteWriter) -> None:
        """From now on, checkouts other than the writer's take a turn from ``writer``."""
        self._writer = writer

    def writer_link(self, inner: WriterLink) -> WriterLink:
        """``inner`` (the writer's way to check the connection out and in), with its checkouts marked as the
        writer's."""
        return _MarkedLink(inner, self)

    def held_by_current_task(self) -> bool:
        """True when the running task has the connection checked out outside the writer (so a storage write from
        it would wait for itself)."""
        lent = self._lent
        return lent is not None and lent.task is not None and lent.task is _current_task()

    def recreate(self) -> WriterPool:
        pool = super().recreate()
        assert isinstance(pool, WriterPool)
        pool._writer = self._writer
        return pool

    def _do_get(self) -> ConnectionPoolEntry:
        writer = self._writer
        task = _current_task()
        if writer is None or (task is not None and task is self._writer_task):
            return super()._do_get()
        hold = writer.request_hold()  # raises a clear RuntimeError once the storage is closed
        try:
            record = super()._do_get()  # the writer checks the connection in when it reaches the hold
        except BaseException:
            hold.release()
            raise
        self._lent = _Lent(record, hold, task)
        return record

    def _do_return_conn(self, record: ConnectionPoolEntry) -> None:
        lent = self._lent
        if lent is None or lent.record is not record:
            super()._do_return_conn(record)
            return
        self._lent = None
        try:
            super()._do_return_conn(record)
        finally:
            lent.hold.release()  # the writer checks the connection out again and resumes
