"""The SQLite writer: one connection per process, fed by a queue, committing concurrent writes together.

SQLite allows one writer at a time. Letting every task open its own write transaction turns concurrency into lock
contention ("database is locked") and pays one fsync per commit. Instead every write of the process goes through
this queue; the writer drains whatever is waiting, runs it all in one ``BEGIN IMMEDIATE`` transaction, gives each
unit its own ``SAVEPOINT`` so a failing unit (a stale fence, say) is rolled back alone, and commits once. Under load
many workflows share each fsync; a lone write costs one transaction as before. The statements run on the event
loop's thread, the waits (a lock held by another process, a slow fsync) in the writer's own thread: see
:meth:`SQLiteWriter._commit`.

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
import sys
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

__all__ = ["BUSY_TIMEOUT_S", "Hold", "SQLiteWriter", "WriterLink"]

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


BUSY_TIMEOUT_S = 30.0  # how long a connection waits for a lock another connection holds
_BUSY_TIMEOUT_MS = int(BUSY_TIMEOUT_S * 1000)
_SLICE_S = 0.004  # the longest stretch of statements run on the event loop before it gets a turn
_REPROBE_GROUPS = 200  # while they are slow, every this many groups one commits on the loop again to measure


def _run_unit(conn: sqlite3.Connection, fn: Unit, *, alone: bool) -> tuple[bool, Any]:
    """Run one unit inside the open transaction. A lone unit that fails rolls the transaction back; one of several
    has its own savepoint, so only its writes are undone."""
    if alone:
        try:
            return True, fn(conn)
        except Exception as exc:
            conn.execute("ROLLBACK")
            return False, exc
    conn.execute("SAVEPOINT edda_unit")
    try:
        value = fn(conn)
    except Exception as exc:
        conn.execute("ROLLBACK TO edda_unit")
        conn.execute("RELEASE edda_unit")
        return False, exc
    conn.execute("RELEASE edda_unit")
    return True, value


def _commit_open(conn: sqlite3.Connection) -> None:
    """``COMMIT`` (the fsync), in the writer thread; a failed commit leaves no transaction open."""
    try:
        if conn.in_transaction:
            conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _try_begin(conn: sqlite3.Connection) -> bool:
    """``BEGIN IMMEDIATE`` without waiting; False when another connection holds the write lock."""
    conn.execute("PRAGMA busy_timeout=0")
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if conn.in_transaction or "locked" not in str(exc).lower():
            raise
        return False
    finally:
        conn.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
    return True


def _begin_waiting(conn: sqlite3.Connection) -> None:
    """``BEGIN IMMEDIATE``, waiting up to the busy timeout for the write lock (in the writer thread)."""
    conn.execute("BEGIN IMMEDIATE")


def _rollback_open(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")


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
        self._groups = 0
        self._commit_s = 0.0  # moving average of COMMIT on the loop
        self._slow_commits = False

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
        """One group in one transaction, run on the event loop's thread: ``BEGIN IMMEDIATE``, the units'
        statements, ``COMMIT``.

        Why not in the writer thread: each statement is microseconds against the page cache, but a thread that
        needs the GIL back while the event loop is busy waits up to a switch interval (5 ms) for it, at every hop and
        every statement. In a burst of 500 activity commits (W4) the group took 56-110 ms in the thread against 10
        ms here, and a lone claim 3 ms against 0.2 ms. The thread is still used where SQLite may wait: ``BEGIN``
        when another process holds the write lock (the loop only tries it without waiting), and ``COMMIT`` while
        commits are slow (an fsync longer than the switch interval on average: a slow disk); the loop gets a turn
        at least every few milliseconds of statements. Nothing else uses this connection meanwhile."""
        loop = asyncio.get_running_loop()
        if self._conn is None:
            self._conn = await self._link.acquire()
        conn = self._conn
        try:
            if not _try_begin(conn):
                await loop.run_in_executor(self._executor, _begin_waiting, conn)
        except Exception as exc:  # nothing of the group was written
            self._fail(writes, exc)
            return
        results: list[tuple[bool, Any]] = []
        try:
            alone = len(writes) == 1
            deadline = time.perf_counter() + _SLICE_S
            for w in writes:
                results.append(_run_unit(conn, w.fn, alone=alone))
                if time.perf_counter() > deadline:
                    await asyncio.sleep(0)
                    deadline = time.perf_counter() + _SLICE_S
            if not (alone and not results[0][0]):  # a lone failed unit already rolled back
                await self._finish(conn)
        except Exception as exc:  # the COMMIT (or a statement outside the units) failed: nothing was written
            await loop.run_in_executor(self._executor, _rollback_open, conn)
            self._fail(writes, exc)
            return
        except BaseException:
            await asyncio.shield(loop.run_in_executor(self._executor, _rollback_open, conn))
            raise
        for w, (ok, value) in zip(writes, results, strict=True):
            if w.future.done():
                continue
            if ok:
                w.future.set_result(value)
            else:
                w.future.set_exception(value)

    async def _finish(self, conn: sqlite3.Connection) -> None:
        """``COMMIT``: on the loop while commits are fast, in the thread while they are slow (tried on the loop
        again every :data:`_REPROBE_GROUPS` groups)."""
        self._groups += 1
        if self._slow_commits and self._groups % _REPROBE_GROUPS:
            await asyncio.get_running_loop().run_in_executor(self._executor, _commit_open, conn)
            return
        started = time.perf_counter()
        _commit_open(conn)
        took = time.perf_counter() - started
        self._commit_s = took if self._slow_commits else 0.8 * self._commit_s + 0.2 * took
        # A hop to the thread and back costs up to a switch interval while the loop is busy: commit on the loop as
        # long as that is cheaper.
        self._slow_commits = self._commit_s > sys.getswitchinterval()

    @staticmethod
    def _fail(writes: list[_Write], exc: Exception) -> None:
        for w in writes:
            if not w.future.done():
                w.future.set_exception(exc)

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
