"""Worker liveness on PostgreSQL and MySQL: tell a dead worker from a slow one, in seconds.

A worker registers by taking a lock that belongs to its database *session* — a PostgreSQL session-level advisory
lock, a MySQL named lock (``GET_LOCK``) — on a connection of its own, and keeps that connection open while it
lives. When the process dies (SIGKILL included), the kernel closes its socket, the server ends the session and
releases the lock at once. Every recovery pass first "reaps": the leases of registered workers whose lock is free
are marked expired, so their instances are claimed in that same pass instead of after the lease timeout.

Rejected alternatives: heartbeat rows alone cannot tell death from a long GC pause or a partition without waiting
for a timeout (we still have leases and fencing for those); ``pg_stat_activity`` lookups by application name are
not unique and need privileges. A false "dead" verdict (the lock connection broke while the worker lives) is safe:
the new owner bumps the lease epoch, and the old worker's next write is fenced off.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from edda_storage_sql._dialects import Dialect
from edda_storage_sql._errors import is_conflict, is_write_refused
from edda_storage_sql._url import DatabaseTarget

__all__ = ["Liveness"]

logger = logging.getLogger("edda_storage_sql")

PG_NAMESPACE = 1162101825  # 'EDDA' as an int4: the first key of Edda's two-key advisory locks
_PG_LOCK_HELD = (
    "SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 1162101825 "
    "AND l.objid = w.lock_key::oid AND l.objsubid = 2 "
    "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)
# Dead workers first, and the instances only when there are some: one UPDATE with the workers in a subquery read every
# instance at every pass (no index leads with the owner), 8-15 ms each at 50,000 instances.
_PG_DEAD = text(f"SELECT w.worker_id FROM edda_workers w WHERE NOT EXISTS ({_PG_LOCK_HELD})")
_PG_REAP = text(
    "UPDATE edda_instances SET lease_expires_at = :now WHERE lease_expires_at > :now "
    "AND owner_id = ANY(CAST(:dead AS text[]))"
)
_PG_FORGET = text(f"DELETE FROM edda_workers w WHERE NOT EXISTS ({_PG_LOCK_HELD})")
_MYSQL_DEAD = text("SELECT worker_id, lock_name FROM edda_workers WHERE IS_USED_LOCK(lock_name) IS NULL")
# One dead worker at a time, each in its own short transaction, re-checking its lock (it may have re-registered):
# reaping every dead worker in one UPDATE ... JOIN + DELETE deadlocked when several workers reaped at once.
_MYSQL_REAP_ONE = text(
    "UPDATE edda_instances SET lease_expires_at = :now "
    "WHERE owner_id = :w AND lease_expires_at > :now AND IS_USED_LOCK(:n) IS NULL"
)
_MYSQL_FORGET_ONE = text("DELETE FROM edda_workers WHERE worker_id = :w AND IS_USED_LOCK(lock_name) IS NULL")
_PG_OWN_LOCK = text(
    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = 1162101825 "
    "AND objid = CAST(:k AS oid) AND objsubid = 2 AND pid = pg_backend_pid())"
)
_MYSQL_OWN_LOCK = text("SELECT IS_USED_LOCK(:n) = CONNECTION_ID()")
_DEADLOCK_RETRIES = 5
PING_SECONDS = 30.0
WAKE_CHANNEL = "edda_wake"
LISTEN_CHECK_SECONDS = 5.0  # how often the LISTEN connection is checked when no termination was signalled
LISTEN_RETRY_MAX_SECONDS = 5.0


class Liveness:
    """Registrations of this process's workers, each holding its lock on a dedicated connection."""

    def __init__(self, target: DatabaseTarget, dialect: Dialect) -> None:
        self._target = target
        self._dialect = dialect
        self._engine: AsyncEngine | None = None
        # worker id -> (its lock connection, its lock: the PostgreSQL key or the MySQL lock name)
        self._held: dict[str, tuple[AsyncConnection, int | str]] = {}
        self._lock = asyncio.Lock()
        self._pinger: asyncio.Task[None] | None = None
        self._listen_task: asyncio.Task[None] | None = None
        self._notifier: AsyncConnection | None = None
        self._notifier_pid: int | None = None  # backend pid of ``_notifier``: its notifications come back to us
        self._notify_lock = asyncio.Lock()
        self._lost: set[str] = set()  # workers whose lost registration could not be renewed yet (logged once)

    @property
    def _pg(self) -> bool:
        return self._target.dialect == "postgresql"

    def _get_engine(self) -> AsyncEngine:
        if self._engine is None:
            self._engine = create_async_engine(self._target.url, poolclass=NullPool)
        return self._engine

    async def register(self, worker_id: str, now: datetime) -> None:
        """Take ``worker_id``'s lock on a new connection and record the registration."""
        async with self._lock:
            if worker_id not in self._held:
                await self._register_locked(worker_id, now)
            if self._pinger is None:
                self._pinger = asyncio.create_task(self._ping_loop(), name="edda-liveness-ping")

    async def _register_locked(self, worker_id: str, now: datetime) -> None:
        conn = await self._get_engine().connect()
        try:
            lock: int | str
            if self._pg:
                lock = await self._pg_lock(conn, worker_id)
                await conn.execute(
                    text(
                        "INSERT INTO edda_workers (worker_id, lock_key, registered_at) VALUES (:w, :k, :now) "
                        "ON CONFLICT (worker_id) DO UPDATE SET lock_key = EXCLUDED.lock_key, "
                        "registered_at = EXCLUDED.registered_at"
                    ),
                    {"w": worker_id, "k": lock, "now": self._dialect.ts_in(now)},
                )
            else:
                lock = "edda:" + hashlib.sha1(worker_id.encode()).hexdigest()
                got = (await conn.execute(text("SELECT GET_LOCK(:n, 10)"), {"n": lock})).scalar()
                if got != 1:
                    raise RuntimeError(f"could not take the liveness lock of worker {worker_id!r}")
                await conn.execute(
                    text("REPLACE INTO edda_workers (worker_id, lock_name, registered_at) VALUES (:w, :n, :now)"),
                    {"w": worker_id, "n": lock, "now": self._dialect.ts_in(now)},
                )
            await conn.commit()
        except BaseException:
            await _quiet_close(conn)
            raise
        self._held[worker_id] = (conn, lock)

    async def _pg_lock(self, conn: AsyncConnection, worker_id: str) -> int:
        key = zlib.crc32(worker_id.encode()) & 0x7FFFFFFF
        for probe in range(64):  # a hash collision with a live worker: take the next free key
            candidate = (key + probe) & 0x7FFFFFFF
            ok = (
                await conn.execute(text("SELECT pg_try_advisory_lock(:ns, :k)"), {"ns": PG_NAMESPACE, "k": candidate})
            ).scalar()
            if ok:
                return candidate
        raise RuntimeError(f"no free liveness lock key for worker {worker_id!r}")

    async def unregister(self, worker_id: str) -> None:
        """Forget ``worker_id`` and release its lock (a clean stop)."""
        async with self._lock:
            held = self._held.pop(worker_id, None)
            if held is None:
                return
            conn = held[0]
            try:
                await conn.execute(text("DELETE FROM edda_workers WHERE worker_id = :w"), {"w": worker_id})
                await conn.commit()
            except Exception:
                logger.debug("unregistering worker %s failed", worker_id, exc_info=True)
            finally:
                await _quiet_close(conn)  # ends the session: the lock goes with it

    async def _still_held(self, conn: AsyncConnection, lock: int | str) -> bool:
        """Whether ``conn`` is alive *and its session* still holds ``lock``.

        A plain ``SELECT 1`` is not enough: after the session was lost, SQLAlchemy reconnects the connection
        object silently, and the new session holds no lock."""
        try:
            if self._pg:
                held = (await conn.execute(_PG_OWN_LOCK, {"k": lock})).scalar()
            else:
                held = (await conn.execute(_MYSQL_OWN_LOCK, {"n": lock})).scalar()
            await conn.commit()
        except Exception:
            return False
        return bool(held)

    async def _check_registrations_locked(self) -> bool:
        """Register again every worker of this process whose lock session was lost. Caller holds ``_lock``.

        Returns whether every registration holds now. Failures are logged once per worker until it succeeds
        again, however often it is retried (a database that refuses writes refuses every retry)."""
        intact = True
        for worker_id, (conn, lock) in list(self._held.items()):
            if await self._still_held(conn, lock):
                continue
            if worker_id not in self._lost:
                logger.warning("Liveness lock of worker %s was lost with its connection; registering again", worker_id)
            self._held.pop(worker_id, None)
            await _quiet_close(conn)
            try:
                await self._register_locked(worker_id, datetime.now(UTC))
            except Exception as exc:
                if worker_id not in self._lost:
                    logger.warning(
                        "Registering worker %s again failed (retried before each recovery pass): %s", worker_id, exc
                    )
                self._lost.add(worker_id)
                self._held[worker_id] = (conn, lock)  # a closed connection: the next check fails and retries
                intact = False
                continue
            if worker_id in self._lost:
                self._lost.discard(worker_id)
                logger.info("Worker %s is registered again", worker_id)
        return intact

    async def reap(self, now: datetime) -> int:
        """Expire the leases of registered workers whose lock is free (their process died). Returns how many.

        Our own registrations are checked first: a worker whose lock connection broke must not take itself for
        dead.

        Raises:
            Exception: the driver's error when the database refuses writes (read-only, out of space)."""
        async with self._lock:
            if not await self._check_registrations_locked():
                return 0  # until this process's own registration holds again, it cannot judge the others
            held = next(iter(self._held.values()), None)
            if held is None:
                return 0
            conn = held[0]
            for attempt in range(_DEADLOCK_RETRIES):
                try:
                    if self._pg:
                        dead = [row[0] for row in await conn.execute(_PG_DEAD)]
                        if not dead:
                            await conn.commit()
                            return 0
                        result: Any = await conn.execute(_PG_REAP, {"now": self._dialect.ts_in(now), "dead": dead})
                        await conn.execute(_PG_FORGET)
                        await conn.commit()
                        return int(result.rowcount or 0)
                    return await self._mysql_reap(conn, now)
                except Exception as exc:
                    await _quiet_rollback(conn)
                    if is_conflict(exc) and attempt + 1 < _DEADLOCK_RETRIES:
                        await asyncio.sleep(0.005 * (attempt + 1))
                        continue
                    if is_write_refused(exc):
                        raise  # the claim that follows would be refused too: its pass fails and backs off
                    logger.warning("Checking for dead workers failed: %s", exc)
                    return 0
            return 0  # pragma: no cover - the loop always returns

    async def _mysql_reap(self, conn: AsyncConnection, now: datetime) -> int:
        dead = [(w, n) for w, n in await conn.execute(_MYSQL_DEAD)]
        await conn.commit()
        reaped = 0
        for worker_id, lock_name in dead:
            result: Any = await conn.execute(
                _MYSQL_REAP_ONE, {"now": self._dialect.ts_in(now), "w": worker_id, "n": lock_name}
            )
            await conn.execute(_MYSQL_FORGET_ONE, {"w": worker_id})
            await conn.commit()
            reaped += int(result.rowcount or 0)
        return reaped

    async def _ping_loop(self) -> None:
        """Keep the lock connections alive; register again a worker whose lock session was lost."""
        while True:
            await asyncio.sleep(PING_SECONDS)
            try:
                async with self._lock:
                    await self._check_registrations_locked()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("Liveness check failed", exc_info=True)

    # -- PostgreSQL LISTEN/NOTIFY ------------------------------------------------------------------------------

    async def listen(self, callback: Callable[[tuple[str, ...]], None]) -> None:
        """Deliver every ``edda_wake`` notification to ``callback`` (instance ids; empty = re-check timers).

        The LISTEN connection is watched: when it is lost (server restart, terminated backend, network) it is
        opened again with backoff, and ``callback(())`` is called once listening again, because notifications
        sent meanwhile were missed."""
        if self._listen_task is None:
            self._listen_task = asyncio.create_task(self._listen_loop(callback), name="edda-listen")

    async def _listen_loop(self, callback: Callable[[tuple[str, ...]], None]) -> None:
        def on_notify(_conn: Any, pid: int, _channel: str, payload: str) -> None:
            if pid == self._notifier_pid:
                return  # our own NOTIFY: this process resumed those instances itself when it committed
            ids = tuple(i for i in payload.split(",") if i)
            try:
                callback(ids)
            except Exception:
                logger.exception("wake callback failed")

        backoff = 0.1
        first = True
        while True:
            lost = asyncio.Event()
            conn: AsyncConnection | None = None
            try:
                conn = await self._get_engine().connect()
                raw = await conn.get_raw_connection()
                driver: Any = raw.driver_connection
                driver.add_termination_listener(lambda _c, lost=lost: lost.set())
                await driver.add_listener(WAKE_CHANNEL, on_notify)
                if not first:
                    logger.info("Listening for wake-ups again after the LISTEN connection was lost")
                    callback(())  # whatever was notified while we were not listening: re-check
                first = False
                backoff = 0.1
                while not lost.is_set():
                    try:
                        await asyncio.wait_for(lost.wait(), timeout=LISTEN_CHECK_SECONDS)
                    except TimeoutError:
                        if driver.is_closed():
                            break
                        try:
                            await driver.execute("SELECT 1")
                        except Exception:
                            break
            except asyncio.CancelledError:
                if conn is not None:
                    await _quiet_close(conn)
                raise
            except Exception as exc:
                logger.warning("LISTEN connection failed (retrying in %.1f s): %s", backoff, exc)
            if conn is not None:
                await _quiet_close(conn)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, LISTEN_RETRY_MAX_SECONDS)

    async def notify(self, instance_ids: tuple[str, ...]) -> None:
        """Tell every listening process that these instances can run (sent after the commit that made them so)."""
        payload = ",".join(instance_ids)
        while len(payload.encode()) > 7900:  # NOTIFY payloads are limited to 8000 bytes
            payload = payload[: payload.rfind(",", 0, 7900)]
        try:
            async with self._notify_lock:
                if self._notifier is None:
                    self._notifier = await self._get_engine().connect()
                raw = await self._notifier.get_raw_connection()  # no I/O; the session may have been replaced
                driver = raw.driver_connection
                assert driver is not None  # an open asyncpg connection
                self._notifier_pid = driver.get_server_pid()
                await self._notifier.execute(text("SELECT pg_notify(:c, :p)"), {"c": WAKE_CHANNEL, "p": payload})
                await self._notifier.commit()
        except Exception as exc:  # best effort: recovery passes are the safety net
            logger.debug("NOTIFY failed: %s", exc)
            if self._notifier is not None:
                await _quiet_close(self._notifier)
            self._notifier = None
            self._notifier_pid = None

    async def close(self) -> None:
        if self._listen_task is not None:
            self._listen_task.cancel()
            await asyncio.gather(self._listen_task, return_exceptions=True)
            self._listen_task = None
        if self._notifier is not None:
            await _quiet_close(self._notifier)
            self._notifier = None
        for worker_id in list(self._held):
            await self.unregister(worker_id)
        if self._pinger is not None:
            self._pinger.cancel()
            await asyncio.gather(self._pinger, return_exceptions=True)
            self._pinger = None
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None


async def _quiet_close(conn: AsyncConnection) -> None:
    try:
        await conn.close()
    except Exception:
        logger.debug("closing a connection failed", exc_info=True)


async def _quiet_rollback(conn: AsyncConnection) -> None:
    try:
        await conn.rollback()
    except Exception:
        logger.debug("rollback failed", exc_info=True)
