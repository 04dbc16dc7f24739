"""The SQLite executor: writes through the process's single group-committing writer, reads on reader connections.

The pieces, each in its module: the writer engine, its ``sqlite3`` connection and the readers (:mod:`._sqlite`), the
writer task and its queue (:mod:`._writer`), and the one-connection pool through which users and interactive
transactions take their turn from the writer (:mod:`._writer_pool`). This class opens them in order, runs
operations on them, and closes them.

An in-memory database has no file for readers to open, so its reads queue at the writer too. One process per
database: there are no other workers to detect or wake, so those methods do nothing.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial
from typing import TypeVar

from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine

from edda_storage_sql._errors import is_sqlite_unavailable, unavailable
from edda_storage_sql._executor import Opened, not_ready
from edda_storage_sql._migrations import migrate_sqlite
from edda_storage_sql._options import StorageOptions
from edda_storage_sql._sql import Op, run_sync
from edda_storage_sql._sqlite import SQLiteLink, SQLiteReaders, open_writer_engine, probe
from edda_storage_sql._transaction import SQLTransaction
from edda_storage_sql._url import DatabaseTarget
from edda_storage_sql._writer import SQLiteWriter
from edda_storage_sql._writer_pool import WriterPool

__all__ = ["SQLiteExecutor"]

T = TypeVar("T")


def _busy(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


def _own_turn() -> RuntimeError:
    return RuntimeError(
        "This task holds the SQLite writer connection (checked out through storage.engine, or a session bound to "
        "it) and asked Edda's storage to write, which needs that same connection and would wait forever. Commit "
        "or close that connection first; to write your rows and Edda's state atomically, use ctx.session inside "
        "an activity, or storage.transaction()."
    )


class SQLiteExecutor:
    """Operations on one SQLite database, from one process (see the module docstring).

    Args:
        target: the database file (or an in-memory database).
        options: ``auto_migrate`` and ``echo`` apply; the pool options do not.

    Raises:
        ConfigurationError: ``use_listen_notify=True`` (PostgreSQL only).
    """

    multi_process = False

    def __init__(self, target: DatabaseTarget, options: StorageOptions) -> None:
        options.listen_notify(target)  # raises if asked for: PostgreSQL only
        self._target = target
        self._options = options
        self._engine: AsyncEngine | None = None
        self._writer: SQLiteWriter | None = None
        self._writer_pool: WriterPool | None = None
        self._readers: SQLiteReaders | None = None

    @property
    def engine(self) -> AsyncEngine | None:
        return self._engine

    async def open(self, *, max_payload_bytes: int | None) -> Opened:
        target = self._target
        if target.sqlite_path is not None:
            try:
                await asyncio.to_thread(probe, target.sqlite_path)
            except sqlite3.Error as exc:
                raise unavailable(target, exc, doing="open") from exc
        engine, captured = open_writer_engine(target, echo=self._options.echo)
        pool = engine.sync_engine.pool
        assert isinstance(pool, WriterPool)
        writer = SQLiteWriter(pool.writer_link(SQLiteLink(engine, captured, in_memory=target.in_memory)))
        migrate = partial(migrate_sqlite, target=target, auto_migrate=self._options.auto_migrate)
        try:
            applied = await writer.setup(migrate)
        except BaseException as exc:
            await writer.close()
            await engine.dispose()
            if isinstance(exc, sqlite3.Error | sa_exc.DBAPIError | OSError):  # missing directory, not a database, ...
                raise unavailable(target, exc, doing="open") from exc
            raise
        writer.start()
        pool.attach(writer)  # from now on engine.connect() and sessions take their turn from the writer
        self._engine, self._writer, self._writer_pool = engine, writer, pool
        self._readers = None if target.sqlite_path is None else SQLiteReaders(target.sqlite_path)
        return Opened(applied, max_payload_bytes)

    async def close(self) -> None:
        self._writer_pool = None
        if self._writer is not None:
            writer, self._writer = self._writer, None
            await writer.close()
        if self._engine is not None:
            engine, self._engine = self._engine, None
            await engine.dispose()
        if self._readers is not None:
            readers, self._readers = self._readers, None
            await asyncio.to_thread(readers.close)

    # -- operations --------------------------------------------------------------------------------------------------

    async def write(self, make_op: Callable[[], Op[T]], *, urgent: bool = False, step: bool = False) -> T:
        writer = self._writer_for_this_task()
        op = make_op()
        return await self._call(lambda: writer.submit(partial(run_sync, op)))

    async def read(
        self, make_op: Callable[[], Op[T]], *, point: bool = False, urgent: bool = False, step: bool = False
    ) -> T:
        """Run a read. ``point``: a read of a few rows by key (an instance, a history): run on the event loop's
        thread, where it costs tens of microseconds, instead of hopping to a reader thread, which under load waits
        up to a GIL switch interval (5 ms) each way; one that would wait for a lock goes to the thread after all."""
        op = make_op()
        if self._readers is not None:
            readers = self._readers
            if point:
                try:
                    return readers.run_here(partial(run_sync, op))
                except sqlite3.Error as exc:
                    if not _busy(exc):
                        mapped = self._mapped(exc)
                        if mapped is exc:
                            raise
                        raise mapped from exc
                op = make_op()
            return await self._call(lambda: readers.run(partial(run_sync, op)))
        writer = self._writer_for_this_task()
        return await self._call(lambda: writer.submit(partial(run_sync, op)))  # in-memory: one connection

    def _writer_for_this_task(self) -> SQLiteWriter:
        if self._writer is None:
            raise not_ready()
        if self._writer_pool is not None and self._writer_pool.held_by_current_task():
            raise _own_turn()
        return self._writer

    async def _call(self, call: Callable[[], Awaitable[T]]) -> T:
        try:
            return await call()
        except sqlite3.Error as exc:
            mapped = self._mapped(exc)
            if mapped is exc:
                raise
            raise mapped from exc

    def _mapped(self, exc: sqlite3.Error) -> Exception:
        return unavailable(self._target, exc, doing="write to") if is_sqlite_unavailable(exc) else exc

    def begin(self, *, owner: object) -> SQLTransaction:
        if self._writer is None or self._engine is None:
            raise not_ready()
        writer = self._writer

        def hold() -> Callable[[], None]:
            return writer.request_hold().release

        return SQLTransaction(self._engine, owner=owner, on_start=hold, map_error=self._tx_error)

    def _tx_error(self, exc: Exception) -> Exception:
        if isinstance(exc, sqlite3.Error) and is_sqlite_unavailable(exc):
            return unavailable(self._target, exc, doing="write to")
        return exc

    # -- workers: one process per database, nothing to detect or wake ------------------------------------------------

    async def reap_dead_workers(self, now: datetime) -> None:
        return None

    async def register_worker(self, worker_id: str) -> None:
        return None

    async def unregister_worker(self, worker_id: str) -> None:
        return None

    def set_wake_callback(self, callback: Callable[[tuple[str, ...]], None]) -> None:
        return None

    def announce_wake(self, instance_ids: tuple[str, ...]) -> None:
        return None
