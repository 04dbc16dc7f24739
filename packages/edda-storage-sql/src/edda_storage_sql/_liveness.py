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
from edda_storage_sql._url import DatabaseTarget

__all__ = ["Liveness"]

logger = logging.getLogger("edda_storage_sql")

PG_NAMESPACE = 1162101825  # 'EDDA' as an int4: the first key of Edda's two-key advisory locks
_PG_LOCK_HELD = (
    "SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 1162101825 "
    "AND l.objid = w.lock_key::oid AND l.objsubid = 2 "
    "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)
_PG_REAP = text(
    "UPDATE edda_instances SET lease_expires_at = :now WHERE lease_expires_at > :now AND owner_id IN "
    f"(SELECT w.worker_id FROM edda_workers w WHERE NOT EXISTS ({_PG_LOCK_HELD}))"
)
_PG_FORGET = text(f"DELETE FROM edda_workers w WHERE NOT EXISTS ({_PG_LOCK_HELD})")
_MYSQL_REAP = text(
    "UPDATE edda_instances i JOIN edda_workers w ON i.owner_id = w.worker_id SET i.lease_expires_at = :now "
    "WHERE i.lease_expires_at > :now AND IS_USED_LOCK(w.lock_name) IS NULL"
)
_MYSQL_FORGET = text("DELETE FROM edda_workers WHERE IS_USED_LOCK(lock_name) IS NULL")
PING_SECONDS = 30.0
WAKE_CHANNEL = "edda_wake"


class Liveness:
    """Registrations of this process's workers, each holding its lock on a dedicated connection."""

    def __init__(self, target: DatabaseTarget, dialect: Dialect) -> None:
        self._target = target
        self._dialect = dialect
        self._engine: AsyncEngine | None = None
        self._held: dict[str, AsyncConnection] = {}
        self._lock = asyncio.Lock()
        self._pinger: asyncio.Task[None] | None = None
        self._listener: AsyncConnection | None = None
        self._notifier: AsyncConnection | None = None
        self._notify_lock = asyncio.Lock()
        self._listener_driver: tuple[Any, Any] | None = None

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
            if worker_id in self._held:
                return
            conn = await self._get_engine().connect()
            try:
                if self._pg:
                    key = await self._pg_lock(conn, worker_id)
                    await conn.execute(
                        text(
                            "INSERT INTO edda_workers (worker_id, lock_key, registered_at) VALUES (:w, :k, :now) "
                            "ON CONFLICT (worker_id) DO UPDATE SET lock_key = EXCLUDED.lock_key, "
                            "registered_at = EXCLUDED.registered_at"
                        ),
                        {"w": worker_id, "k": key, "now": self._dialect.ts_in(now)},
                    )
                else:
                    name = "edda:" + hashlib.sha1(worker_id.encode()).hexdigest()
                    got = (await conn.execute(text("SELECT GET_LOCK(:n, 10)"), {"n": name})).scalar()
                    if got != 1:
                        raise RuntimeError(f"could not take the liveness lock of worker {worker_id!r}")
                    await conn.execute(
                        text("REPLACE INTO edda_workers (worker_id, lock_name, registered_at) VALUES (:w, :n, :now)"),
                        {"w": worker_id, "n": name, "now": self._dialect.ts_in(now)},
                    )
                await conn.commit()
            except BaseException:
                await conn.close()
                raise
            self._held[worker_id] = conn
            if self._pinger is None:
                self._pinger = asyncio.create_task(self._ping_loop(), name="edda-liveness-ping")

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
            conn = self._held.pop(worker_id, None)
            if conn is None:
                return
            try:
                await conn.execute(text("DELETE FROM edda_workers WHERE worker_id = :w"), {"w": worker_id})
                await conn.commit()
            except Exception:
                logger.debug("unregistering worker %s failed", worker_id, exc_info=True)
            finally:
                await conn.close()  # ends the session: the lock goes with it

    async def reap(self, now: datetime) -> int:
        """Expire the leases of registered workers whose lock is free (their process died). Returns how many."""
        async with self._lock:
            conn = next(iter(self._held.values()), None)
            if conn is None:
                return 0
            reap, forget = (_PG_REAP, _PG_FORGET) if self._pg else (_MYSQL_REAP, _MYSQL_FORGET)
            try:
                result: Any = await conn.execute(reap, {"now": self._dialect.ts_in(now)})
                await conn.execute(forget)
                await conn.commit()
            except Exception as exc:
                await _quiet_rollback(conn)
                logger.warning("Checking for dead workers failed: %s", exc)
                return 0
            return int(result.rowcount or 0)

    async def _ping_loop(self) -> None:
        """Keep the lock connections alive; re-register a worker whose connection broke."""
        while True:
            await asyncio.sleep(PING_SECONDS)
            for worker_id, conn in list(self._held.items()):
                try:
                    async with self._lock:
                        await conn.execute(text("SELECT 1"))
                        await conn.commit()
                except Exception:
                    logger.warning("Liveness connection of worker %s broke; registering again", worker_id)
                    self._held.pop(worker_id, None)
                    try:
                        await conn.close()
                    except Exception:
                        pass
                    try:
                        await self.register(worker_id, datetime.now(UTC))
                    except Exception as exc:
                        logger.warning("Registering worker %s again failed: %s", worker_id, exc)

    # -- PostgreSQL LISTEN/NOTIFY ------------------------------------------------------------------------------

    async def listen(self, callback: Callable[[tuple[str, ...]], None]) -> None:
        """Deliver every ``edda_wake`` notification to ``callback`` (instance ids; empty = re-check timers)."""
        conn = await self._get_engine().connect()
        raw = await conn.get_raw_connection()
        driver: Any = raw.driver_connection

        def on_notify(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
            ids = tuple(i for i in payload.split(",") if i)
            try:
                callback(ids)
            except Exception:
                logger.exception("wake callback failed")

        await driver.add_listener(WAKE_CHANNEL, on_notify)
        self._listener = conn
        self._listener_driver = (driver, on_notify)

    async def notify(self, instance_ids: tuple[str, ...]) -> None:
        """Tell every listening process that these instances can run (sent after the commit that made them so)."""
        payload = ",".join(instance_ids)
        while len(payload.encode()) > 7900:  # NOTIFY payloads are limited to 8000 bytes
            payload = payload[: payload.rfind(",", 0, 7900)]
        try:
            async with self._notify_lock:
                if self._notifier is None:
                    self._notifier = await self._get_engine().connect()
                await self._notifier.execute(text("SELECT pg_notify(:c, :p)"), {"c": WAKE_CHANNEL, "p": payload})
                await self._notifier.commit()
        except Exception as exc:  # best effort: recovery passes are the safety net
            logger.debug("NOTIFY failed: %s", exc)
            self._notifier = None

    async def close(self) -> None:
        if self._listener_driver is not None:
            driver, handler = self._listener_driver
            self._listener_driver = None
            try:
                await driver.remove_listener(WAKE_CHANNEL, handler)
            except Exception:
                logger.debug("removing the NOTIFY listener failed", exc_info=True)
        for conn in (self._listener, self._notifier):
            if conn is not None:
                try:
                    await conn.close()
                except Exception:
                    logger.debug("closing a notification connection failed", exc_info=True)
        self._listener = self._notifier = None
        for worker_id in list(self._held):
            await self.unregister(worker_id)
        if self._pinger is not None:
            self._pinger.cancel()
            await asyncio.gather(self._pinger, return_exceptions=True)
            self._pinger = None
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None


async def _quiet_rollback(conn: AsyncConnection) -> None:
    try:
        await conn.rollback()
    except Exception:
        logger.debug("rollback failed", exc_info=True)
