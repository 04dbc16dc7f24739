"""The server executor: PostgreSQL or MySQL/MariaDB, shared by any number of worker processes.

Operations run on the raw driver connections of a SQLAlchemy connection pool (:mod:`._pool`: slots, cheap liveness
checks, retries of conflicts and lost reads); user-visible transactions are ``AsyncSession``\\ s on the same pool.
Each worker of the process holds a session lock on a connection of its own, so a recovery pass can take over a dead
process's instances at once, and on PostgreSQL processes wake each other with LISTEN/NOTIFY (:mod:`._liveness`).
What differs between the two servers (connect options, driver runner, migrations, MySQL's packet size) stays here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from edda.exceptions import ConfigurationError, StorageConflictError, StorageUnavailableError
from edda_storage_sql._dialects import Dialect
from edda_storage_sql._errors import is_conflict, is_disconnect, is_duplicate_key, is_write_refused, unavailable
from edda_storage_sql._executor import Opened, not_ready
from edda_storage_sql._liveness import Liveness
from edda_storage_sql._migrations import migrate_mysql, migrate_postgresql
from edda_storage_sql._options import MIB, StorageOptions
from edda_storage_sql._pool import ServerPool
from edda_storage_sql._sql import Op, run_aiomysql, run_asyncpg, run_sqlalchemy
from edda_storage_sql._statistics import PlannerStatistics
from edda_storage_sql._transaction import SQLTransaction
from edda_storage_sql._url import DatabaseTarget

__all__ = ["REAP_MIN_INTERVAL_SECONDS", "ServerExecutor"]

logger = logging.getLogger("edda_storage_sql")
# Dead workers are looked for at most this often (a recovery pass that follows another at once skips it), so a dead
# worker's instances are taken over within recovery_interval + this.
REAP_MIN_INTERVAL_SECONDS = 0.25
_CONNECT_TIMEOUT_S = 10

T = TypeVar("T")


class ServerExecutor:
    """Operations on a PostgreSQL or MySQL/MariaDB database, from one of many processes (see the module docstring).

    Args:
        target: the server and database.
        dialect: its SQL dialect (timestamps of the liveness registrations).
        options: every option applies.

    Raises:
        ConfigurationError: ``use_listen_notify=True`` on MySQL.
    """

    multi_process = True

    def __init__(self, target: DatabaseTarget, dialect: Dialect, options: StorageOptions) -> None:
        self._notify = options.listen_notify(target)
        self._target = target
        self._options = options
        self._pool: ServerPool | None = None
        self._liveness = Liveness(target, dialect)
        self._last_reap = float("-inf")  # time.monotonic() of the last look for dead workers
        self._tasks: set[asyncio.Task[Any]] = set()
        self.statistics = PlannerStatistics(target.describe()) if target.dialect == "postgresql" else None

    @property
    def _pg(self) -> bool:
        return self._target.dialect == "postgresql"

    @property
    def engine(self) -> AsyncEngine | None:
        return None if self._pool is None else self._pool.engine

    # -- lifecycle ---------------------------------------------------------------------------------------------------

    def _create_engine(self) -> AsyncEngine:
        url = self._target.url
        options = self._options
        connect_args: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        if self._pg:
            if "timeout" not in url.query:
                connect_args["timeout"] = _CONNECT_TIMEOUT_S
        else:
            if "connect_timeout" not in url.query:
                connect_args["connect_timeout"] = _CONNECT_TIMEOUT_S
            if "charset" not in url.query:
                connect_args["charset"] = "utf8mb4"
            # fewer gap locks and deadlocks for claim queries; each statement sees the latest committed rows
            extra["isolation_level"] = "READ COMMITTED"
        return create_async_engine(
            url,
            pool_size=options.pool_size,
            max_overflow=options.max_overflow,
            pool_timeout=options.pool_timeout,
            pool_recycle=options.pool_recycle,
            pool_pre_ping=False,
            echo=options.echo,
            connect_args=connect_args,
            **extra,
        )

    async def open(self, *, max_payload_bytes: int | None) -> Opened:
        target, options = self._target, self._options
        runner = run_asyncpg if self._pg else partial(run_aiomysql, handles=is_duplicate_key)
        pool = ServerPool(
            self._create_engine(), target, runner=runner, pre_ping=options.pool_pre_ping, slots=options.pool_size
        )
        limit = max_payload_bytes

        async def prepare(driver: Any) -> list[str]:
            nonlocal limit
            if self._pg:
                return await migrate_postgresql(driver, target, auto_migrate=options.auto_migrate)
            applied = await migrate_mysql(driver, target, auto_migrate=options.auto_migrate)
            limit = await self._fit_mysql_packet(driver, limit)
            return applied

        try:
            applied = await pool.with_driver(prepare)
        except (ConfigurationError, StorageUnavailableError):
            await pool.dispose()
            raise
        except Exception as exc:
            await pool.dispose()
            if is_disconnect(exc) or is_write_refused(exc):
                raise unavailable(target, exc, doing="prepare") from exc
            raise
        self._pool = pool
        return Opened(applied, limit)

    async def _fit_mysql_packet(self, driver: Any, limit: int | None) -> int | None:
        async with driver.cursor() as cur:
            await cur.execute("SELECT @@max_allowed_packet")
            packet = int((await cur.fetchone())[0])
        await driver.commit()
        # A value travels escaped inside the statement (up to twice its size), next to the rest of the row.
        fit = max(1, (packet - MIB) // 2)
        if limit is not None and limit <= fit:
            return limit
        logger.log(
            logging.WARNING if self._options.payload_explicit else logging.INFO,
            "Storing values up to %s bytes on the %s: its max_allowed_packet is %s bytes. Raise max_allowed_packet "
            "on the server to store larger values.",
            fit,
            self._target.describe(),
            packet,
        )
        return fit

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._liveness.close()
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.dispose()

    # -- operations --------------------------------------------------------------------------------------------------

    async def write(self, make_op: Callable[[], Op[T]], *, urgent: bool = False, step: bool = False) -> T:
        if self._pool is None:
            raise not_ready()
        return await self._pool.run(make_op, read=False, urgent=urgent, step=step)

    async def read(
        self, make_op: Callable[[], Op[T]], *, point: bool = False, urgent: bool = False, step: bool = False
    ) -> T:
        if self._pool is None:
            raise not_ready()
        return await self._pool.run(make_op, read=True, urgent=urgent, step=step)

    def begin(self, *, owner: object) -> SQLTransaction:
        if self._pool is None:
            raise not_ready()
        runner = run_sqlalchemy if self._pg else _run_mysql_in_tx
        return SQLTransaction(
            self._pool.engine, owner=owner, runner=runner, map_error=self._tx_error, drop_unavailable=True
        )

    def _tx_error(self, exc: Exception) -> Exception:
        if is_disconnect(exc):
            if self._pool is not None:
                self._pool.note_disconnect()
            return unavailable(self._target, exc, doing="use")
        if is_write_refused(exc):
            return unavailable(self._target, exc, doing="write to")
        if is_conflict(exc):
            # Outside a transaction the pool retries these; inside one, the whole transaction (the activity's
            # business writes included) is gone, so the run is retried from history, as after a lost connection.
            return StorageConflictError(
                f"The {self._target.describe()} rolled the transaction back to resolve a deadlock or serialization "
                f"conflict ({type(exc).__name__}); nothing of it was written, and it is retried from history."
            )
        return exc

    # -- workers: liveness locks, LISTEN/NOTIFY ----------------------------------------------------------------------

    async def reap_dead_workers(self, now: datetime) -> None:
        if self.statistics is not None and self.statistics.due():  # a worker's passes keep the statistics fresh
            self._spawn(self._refresh_statistics(self.statistics))
        if time.monotonic() - self._last_reap < REAP_MIN_INTERVAL_SECONDS:
            return  # back-to-back passes (a backlog of due timers, a burst of work) need not each look
        self._last_reap = time.monotonic()
        try:
            reaped = await self._liveness.reap(now)
        except Exception as exc:
            if is_write_refused(exc):
                raise unavailable(self._target, exc, doing="write to") from exc
            raise
        if reaped:
            logger.info("Took over %d instance(s) of worker(s) whose process died", reaped)

    async def _refresh_statistics(self, statistics: PlannerStatistics) -> None:
        pool = self._pool
        if pool is None:
            return
        try:
            await pool.with_driver(statistics.refresh)
        except Exception as exc:  # stale statistics slow queries down, nothing more: say so and look again later
            level = logging.DEBUG if statistics.failing else logging.WARNING  # once, not every look
            statistics.failing = True
            logger.log(level, "Refreshing the planner statistics of Edda's tables failed: %s", exc)
        else:
            statistics.failing = False

    async def register_worker(self, worker_id: str) -> None:
        try:
            await self._liveness.register(worker_id, datetime.now(UTC))
        except Exception as exc:
            if is_disconnect(exc) or is_write_refused(exc):
                raise unavailable(self._target, exc, doing="register a worker with") from exc
            raise

    async def unregister_worker(self, worker_id: str) -> None:
        await self._liveness.unregister(worker_id)

    def set_wake_callback(self, callback: Callable[[tuple[str, ...]], None]) -> None:
        if self._notify:
            self._spawn(self._liveness.listen(callback))

    def announce_wake(self, instance_ids: tuple[str, ...]) -> None:
        if instance_ids and self._notify:
            self._spawn(self._liveness.notify(tuple(instance_ids)))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


async def _run_mysql_in_tx(op: Op[T], conn: AsyncConnection) -> T:
    # The session's connection is in an implicit MySQL transaction (autocommit off; SQLAlchemy's BEGIN is a no-op),
    # so the raw driver joins it. (On asyncpg SQLAlchemy starts its transaction lazily, so PostgreSQL goes through
    # SQLAlchemy instead.)
    raw = await conn.get_raw_connection()
    return await run_aiomysql(op, raw.driver_connection, commit=False)
