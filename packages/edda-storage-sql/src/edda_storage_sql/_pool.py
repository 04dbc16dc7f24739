"""PostgreSQL and MySQL connections: SQLAlchemy's pool, a cheap liveness check, and recovery after disconnects.

Operations borrow a pooled SQLAlchemy connection and run on its raw driver connection (see :mod:`._sql` for why);
interactive transactions use ``AsyncSession`` on the same pool.

``pool_pre_ping``: SQLAlchemy's own pre-ping costs a round trip on every checkout (three on asyncpg outside a
transaction), as much as the commit it protects. Here a ``checkout`` listener pings a connection only when it may be
stale: it has not been used successfully for over a second, or a disconnect was seen since it last worked (after a
server restart every pooled connection is checked once, not just the one that failed). A failed ping raises
``DisconnectionError``, on which SQLAlchemy discards the connection and opens a new one. A connection that fails in
use is dropped; a read is then retried once on a fresh connection, a write raises
:class:`~edda.exceptions.StorageUnavailableError` (its outcome may be unknown; the engine re-claims and replays).

Bursts: SQLAlchemy's ``QueuePool`` keeps only ``pool_size`` connections; an overflow connection is opened for one
checkout and closed again at check-in. With hundreds of concurrent workflows every operation beyond ``pool_size``
would pay a new connection (measured: 1,000 concurrent workflows ran at ~200/s on PostgreSQL). So operations queue
here for one of ``pool_size`` slots, first come first served, except that claims (the recovery pass, a wake-up) go
ahead of the queue: they are single cheap statements that feed every run after them, so under a burst of due timers
a claim waiting behind hundreds of history reads and completions would make every timer late. Next come the steps of
runs in progress (``step``: a run's commit, its receive): a burst of 500 ``start()`` calls queues 500 instance
creations, and the first runs' activity results, which the workflow waits for, would otherwise wait behind all of
them. Steps never starve the rest: after three steps in a row, an operation of the rest goes first. The overflow
stays for interactive transactions.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from edda.exceptions import StorageConflictError
from edda_storage_sql._errors import is_conflict, is_disconnect, is_write_refused, unavailable
from edda_storage_sql._sql import Op
from edda_storage_sql._url import DatabaseTarget

__all__ = ["ServerPool"]

T = TypeVar("T")
IDLE_PING_S = 1.0
_OK = "edda_ok_at"
_CONFLICT_RETRIES = 3

Runner = Callable[[Op[Any], Any], Awaitable[Any]]


class ServerPool:
    """Borrow connections from a SQLAlchemy engine and run operations on their driver connections.

    Args:
        engine: the engine (created with SQLAlchemy's ``pool_pre_ping`` off; this class checks liveness instead).
        target: the database, for error messages.
        runner: runs an operation on a driver connection (asyncpg or aiomysql flavour).
        pre_ping: check possibly stale connections before use.
        slots: how many operations may hold a connection at once (``pool_size``).
    """

    def __init__(
        self, engine: AsyncEngine, target: DatabaseTarget, *, runner: Runner, pre_ping: bool, slots: int
    ) -> None:
        self.engine = engine
        self._target = target
        self._runner = runner
        self._disconnect_at = 0.0
        self._slots = _Slots(slots)
        sync_engine = engine.sync_engine
        dialect = sync_engine.dialect

        @event.listens_for(sync_engine, "connect")
        def _fresh(dbapi_connection: Any, record: Any) -> None:  # a new connection needs no ping
            record.info[_OK] = time.monotonic()

        if pre_ping:

            @event.listens_for(sync_engine, "checkout")
            def _check(dbapi_connection: Any, record: Any, proxy: Any) -> None:
                ok_at = record.info.get(_OK)
                now = time.monotonic()
                if ok_at is not None and ok_at >= self._disconnect_at and now - ok_at <= IDLE_PING_S:
                    return
                try:
                    dialect.do_ping(dbapi_connection)
                except Exception as exc:
                    self._disconnect_at = now
                    raise sa_exc.DisconnectionError(f"ping failed: {type(exc).__name__}") from exc
                record.info[_OK] = now

    def note_disconnect(self) -> None:
        """Record that a connection was lost: pooled connections get checked before their next use."""
        self._disconnect_at = time.monotonic()

    async def _checkout(self) -> tuple[AsyncConnection, Any, dict[Any, Any]]:
        try:
            conn = await self.engine.connect()
            fairy = await conn.get_raw_connection()
        except Exception as exc:
            raise unavailable(self._target, exc, doing="connect to") from exc
        return conn, fairy.driver_connection, fairy.info

    async def _drop(self, conn: AsyncConnection) -> None:
        try:
            await conn.invalidate()
        except Exception:
            pass
        try:
            await conn.close()
        except Exception:
            pass

    async def run(self, make_op: Callable[[], Op[T]], *, read: bool, urgent: bool = False, step: bool = False) -> T:
        """Run the operation ``make_op()`` on a pooled connection; ``urgent`` ones get the next free slot first,
        then ``step`` ones (see the module's docstring).

        Deadlocks and serialization failures are retried (the operation's transaction was rolled back); a lost
        connection is retried once for a read.

        Raises:
            StorageUnavailableError: the connection was lost (or could not be made), or the database refused the
                write (read-only, or out of space).
        """
        await self._slots.acquire(urgent, step=step)
        try:
            return await self._run(make_op, read=read)
        finally:
            self._slots.release()

    async def _run(self, make_op: Callable[[], Op[T]], *, read: bool) -> T:
        conflicts = 0
        lost = 0
        while True:
            conn, driver, info = await self._checkout()
            try:
                result = await self._runner(make_op(), driver)
            except Exception as exc:
                if is_disconnect(exc):
                    self.note_disconnect()
                    await self._drop(conn)
                    if read and lost == 0:
                        lost += 1
                        continue
                    raise unavailable(self._target, exc, doing="use") from exc
                if is_write_refused(exc):
                    # Read-only (a standby after a failover, read_only set) or out of space. Drop the connection:
                    # a new one may reach the new primary, and none that answered this is kept.
                    await self._drop(conn)
                    raise unavailable(self._target, exc, doing="write to") from exc
                await conn.close()
                if is_conflict(exc):
                    if conflicts < _CONFLICT_RETRIES:
                        conflicts += 1
                        continue
                    raise StorageConflictError(  # not the driver's error: callers retry a StorageUnavailableError
                        f"The {self._target.describe()} rolled the operation back {conflicts + 1} times in a row to "
                        f"resolve deadlocks or serialization conflicts ({type(exc).__name__}); nothing of it was "
                        f"written."
                    ) from exc
                raise
            except BaseException:  # cancelled mid-statement: the connection's state is unknown
                await self._drop(conn)
                raise
            info[_OK] = time.monotonic()
            await conn.close()
            return result

    async def with_driver(self, fn: Callable[[Any], Awaitable[T]]) -> T:
        """Run ``fn(driver_connection)`` on a pooled connection (setup work such as migrations)."""
        conn, driver, info = await self._checkout()
        try:
            result = await fn(driver)
        except BaseException as exc:
            if not isinstance(exc, Exception) or is_disconnect(exc):
                await self._drop(conn)
            else:
                await conn.close()
            raise
        info[_OK] = time.monotonic()
        await conn.close()
        return result

    async def dispose(self) -> None:
        await self.engine.dispose()


class _Slots:
    """A counting semaphore with three queues, each served in arrival order: ``urgent`` waiters first, then ``step``
    ones, then the others; after ``STEP_STREAK`` steps in a row while others wait, one of the others goes first."""

    STEP_STREAK = 3

    def __init__(self, slots: int) -> None:
        self._free = slots
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._step: deque[asyncio.Future[None]] = deque()
        self._normal: deque[asyncio.Future[None]] = deque()
        self._streak = 0  # steps served in a row while others waited

    def _queue(self, urgent: bool, step: bool) -> deque[asyncio.Future[None]]:
        return self._urgent if urgent else self._step if step else self._normal

    async def acquire(self, urgent: bool = False, *, step: bool = False) -> None:
        if self._free > 0 and not self._urgent and not self._step and not self._normal:
            self._free -= 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._queue(urgent, step)
        queue.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the slot was handed to us as we were cancelled: pass it on
            else:
                with contextlib.suppress(ValueError):  # release() may have dropped it already
                    queue.remove(waiter)
            raise

    def _order(self) -> tuple[deque[asyncio.Future[None]], ...]:
        if self._streak >= self.STEP_STREAK:
            return (self._urgent, self._normal, self._step)
        return (self._urgent, self._step, self._normal)

    def release(self) -> None:
        for queue in self._order():
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    if queue is self._step:
                        self._streak = self._streak + 1 if self._normal else 0
                    elif queue is self._normal:
                        self._streak = 0
                    waiter.set_result(None)  # the slot passes straight to the waiter
                    return
        self._free += 1
