"""The SQLite writer: one connection per process, fed by a queue, committing concurrent writes together.

SQLite allows one writer at a time. Letting every task open its own write transaction turns concurrency into lock
contention ("database is locked") and pays one fsync per commit. Instead every write of the process goes through
this queue; the writer drains whatever is waiting, runs it all in one ``BEGIN IMMEDIATE`` transaction in its own
thread (one thread hop for the whole group), gives each unit its own ``SAVEPOINT`` so a failing unit (a stale fence,
say) is rolled back alone, and commits once. Under load many workflows share each fsync; a lone write costs one
transaction as before.

An interactive transaction (``storage.begin()``/``transaction()``) takes the writer for its whole duration. The one
connection lives in a SQLAlchemy pool of size one, which is the mutex: the writer keeps it checked out while it
works; a transaction that starts asks the writer (through the queue) to check it in, and its ``AsyncSession`` checks
it out (waiting in the pool until then); when the transaction ends the writer checks it out again and resumes.

Alternatives rejected: a lock around a shared SQLAlchemy connection (no group commit, and each statement pays a
thread hop through aiosqlite); one connection per task with ``busy_timeout`` (lock contention, one fsync per commit).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

__all__ = ["Hold", "SQLiteWriter", "WriterLink"]

T = TypeVar("T")
Unit = Callable[[sqlite3.Connection], Any]


@dataclass(slots=True)
class _Write:
    fn: Unit
    future: asyncio.Future[Any]


class WriterLink(Protocol):
    """The writer's claim on the connection: check it out (returning the ``sqlite3`` connection) and back in."""

    def acquire(self) -> Awaitable[sqlite3.Connection]: ...

    def release(self) -> Awaitable[None]: ...


@dataclass(slots=True)
class Hold:
    """A request to have the writer step aside (see :meth:`SQLiteWriter.request_hold`)."""

    released: asyncio.Future[None]

    def release(self) -> None:
        """Let the writer resume (idempotent)."""
        if not self.released.done():
            self.released.set_result(None)


_STOP = object()


def _run_group(conn: sqlite3.Connection, fns: list[Unit]) -> list[tuple[bool, Any]]:
    """Run ``fns`` in one transaction, each isolated by a savepoint. Runs in the writer thread."""
    results: list[tuple[bool, Any]] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        if len(fns) == 1:
            try:
                results.append((True, fns[0](conn)))
            except Exception as exc:
                conn.execute("ROLLBACK")
                return [(False, exc)]
        else:
            for fn in fns:
                conn.execute("SAVEPOINT edda_unit")
                try:
                    value = fn(conn)
                except Exception as exc:
                    conn.execute("ROLLBACK TO edda_unit")
                    conn.execute("RELEASE edda_unit")
                    results.append((False, exc))
                    continue
                conn.execute("RELEASE edda_unit")
                results.append((True, value))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return results


class SQLiteWriter:
    """Serializes and group-commits every write of one process to one SQLite database.

    Args:
        link: how to check the connection out and in (autocommit mode, ``check_same_thread=False``); only this
            object's thread uses it while it is checked out.
        max_group: the most units committed in one transaction.
    """

    def __init__(self, link: WriterLink, *, max_group: int = 512) -> None:
        self._link = link
        self._conn: sqlite3.Connection | None = None
        self._max_group = max_group
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="edda-sqlite-writer")
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    async def setup(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Before :meth:`start`: check the connection out and run ``fn`` on it in the writer thread."""
        if self._conn is None:
            self._conn = await self._link.acquire()
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, self._conn)

    def start(self) -> None:
        """Start the writer task (in the running event loop)."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="edda-sqlite-writer")

    async def submit(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` inside the next group transaction; its writes commit before this returns.

        If ``fn`` raises, its writes are rolled back (alone) and the exception is raised here.
        """
        if self._closing or self._task is None:
            raise RuntimeError("The SQLite storage is closed (or was never initialized): call initialize() first.")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Write(fn, future))
        return await future

    def request_hold(self) -> Hold:
        """Ask the writer to step aside and check its connection in (no I/O; the writer gets to it in queue order).

        The caller then checks the connection out of the pool itself, and must :meth:`Hold.release` when done.
        """
        if self._closing or self._task is None:
            raise RuntimeError("The SQLite storage is closed (or was never initialized): call initialize() first.")
        hold = Hold(asyncio.get_running_loop().create_future())
        self._queue.put_nowait(hold)
        return hold

    async def close(self) -> None:
        """Finish queued writes, stop the task and the thread. The connection is closed by its owner."""
        if self._task is not None and not self._closing:
            self._closing = True
            self._queue.put_nowait(_STOP)
            await self._task
        self._closing = True
        if self._conn is not None:
            self._conn = None
            await self._link.release()
        self._executor.shutdown(wait=True)

    async def _run(self) -> None:
        if self._conn is None:
            self._conn = await self._link.acquire()
        while True:
            group = [await self._queue.get()]
            while len(group) < self._max_group:
                try:
                    group.append(self._queue.get_nowait())
                except asyncio.QueueEmpty:
                    break
            writes: list[_Write] = []
            for item in group:
                if isinstance(item, _Write):
                    if not item.future.cancelled():
                        writes.append(item)
                    continue
                if writes:
                    await self._commit(writes)
                    writes = []
                if item is _STOP:
                    self._fail_queued()
                    return
                await self._lend(item)
            if writes:
                await self._commit(writes)

    async def _commit(self, writes: list[_Write]) -> None:
        loop = asyncio.get_running_loop()
        if self._conn is None:
            self._conn = await self._link.acquire()
        conn = self._conn
        try:
            results = await loop.run_in_executor(self._executor, _run_group, conn, [w.fn for w in writes])
        except Exception as exc:  # BEGIN or COMMIT failed: nothing of the group was written
            for w in writes:
                if not w.future.done():
                    w.future.set_exception(exc)
            return
        for w, (ok, value) in zip(writes, results, strict=True):
            if w.future.done():
                continue
            if ok:
                w.future.set_result(value)
            else:
                w.future.set_exception(value)

    async def _lend(self, hold: Hold) -> None:
        if hold.released.done():
            return
        self._conn = None
        await self._link.release()  # the transaction's session is waiting in the pool for exactly this
        await hold.released
        self._conn = await self._link.acquire()

    def _fail_queued(self) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            if isinstance(item, _Write) and not item.future.done():
                item.future.set_exception(RuntimeError("The SQLite storage was closed before this write ran."))
            elif isinstance(item, Hold):
                item.release()
