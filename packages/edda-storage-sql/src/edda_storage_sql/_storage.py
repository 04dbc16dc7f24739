"""``SQLAlchemyStorage``: Edda's storage SPI on SQLite, PostgreSQL and MySQL/MariaDB."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from edda.exceptions import ConfigurationError, StorageConflictError, StorageUnavailableError
from edda.storage.protocol import Transaction
from edda.storage.records import (
    ChannelMessageRecord,
    Fence,
    HistoryEvent,
    InstancePage,
    InstanceQuery,
    InstanceRecord,
    InstanceUpdate,
    NewInstance,
    NewMessage,
    OutboxEvent,
    StepCommit,
    StepOutcome,
    StorageCapabilities,
)
from edda_storage_sql import _channels, _commit, _ops, _outbox
from edda_storage_sql._codec import PayloadGuard
from edda_storage_sql._dialects import dialect_for
from edda_storage_sql._errors import is_conflict, is_disconnect, is_duplicate_key, is_sqlite_unavailable, unavailable
from edda_storage_sql._liveness import Liveness
from edda_storage_sql._migrations import migrate_mysql, migrate_postgresql, migrate_sqlite
from edda_storage_sql._pool import ServerPool
from edda_storage_sql._sql import Op, run_aiomysql, run_asyncpg, run_sqlalchemy, run_sync
from edda_storage_sql._sqlite import SQLiteLink, SQLiteReaders, open_writer_engine, probe
from edda_storage_sql._transaction import SQLTransaction
from edda_storage_sql._url import DatabaseTarget, parse_database_url
from edda_storage_sql._writer import SQLiteWriter
from edda_storage_sql._writer_pool import WriterPool

__all__ = ["SQLAlchemyStorage"]

logger = logging.getLogger("edda_storage_sql")
# Dead workers are looked for at most this often (a recovery pass that follows another at once skips it), so a dead
# worker's instances are taken over within recovery_interval + this.
REAP_MIN_INTERVAL_SECONDS = 0.25

T = TypeVar("T")

OPTIONS = (
    "pool_size",
    "max_overflow",
    "pool_timeout",
    "pool_recycle",
    "pool_pre_ping",
    "auto_migrate",
    "max_payload_bytes",
    "echo",
    "use_listen_notify",
)
_CONNECT_TIMEOUT_S = 10
_MIB = 1024 * 1024


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigurationError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def _check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigurationError(f"{name} must be True or False, got {value!r}")
    return value


class SQLAlchemyStorage:
    """Edda storage in a SQL database: SQLite, PostgreSQL, or MySQL/MariaDB, through SQLAlchemy asyncio.

    Building it does no I/O; :meth:`initialize` connects and applies the schema migrations.

    Args:
        url: database URL. ``sqlite:///workflow.db`` (one process, many tasks), ``postgresql://user:pw@host/db``
            (or ``postgres://``), ``mysql://user:pw@host/db`` (or ``mariadb://``). Bare schemes use the async drivers
            aiosqlite, asyncpg and aiomysql; ``+aiosqlite``, ``+asyncpg`` and ``+aiomysql`` may be spelled out.
        pool_size: connections kept open (PostgreSQL/MySQL; ignored for SQLite).
        max_overflow: extra connections opened under load beyond ``pool_size`` (ignored for SQLite).
        pool_timeout: seconds to wait for a free connection before failing (ignored for SQLite).
        pool_recycle: replace connections older than this many seconds, ``-1`` never (ignored for SQLite).
        pool_pre_ping: check a pooled connection that may be stale (idle over a second, or pooled before a
            disconnect was seen) before using it (ignored for SQLite).
        auto_migrate: apply pending schema migrations in :meth:`initialize`. With ``False``, :meth:`initialize`
            fails with instructions if the schema is missing or old (apply the files with dbmate instead).
        max_payload_bytes: largest stored value (JSON text or bytes), ``None`` for no limit. On MySQL it is also
            capped by the server's ``max_allowed_packet``.
        echo: log SQLAlchemy's SQL (SQLAlchemy-executed statements only).
        use_listen_notify: PostgreSQL LISTEN/NOTIFY wake-ups across processes (``None`` = on for PostgreSQL,
            ``False`` = off; ``True`` on another database is an error). Other databases rely on recovery passes.

    Raises:
        ConfigurationError: the URL or an option is invalid (the message never contains the URL).
    """

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 5,
        max_overflow: int = 10,
        pool_timeout: float = 30,
        pool_recycle: int = 3600,
        pool_pre_ping: bool = True,
        auto_migrate: bool = True,
        max_payload_bytes: int | None = 16 * _MIB,
        echo: bool = False,
        use_listen_notify: bool | None = None,
    ) -> None:
        self._target: DatabaseTarget = parse_database_url(url)
        self._pool_size = _check_int("pool_size", pool_size, 1)
        self._max_overflow = _check_int("max_overflow", max_overflow, 0)
        if isinstance(pool_timeout, bool) or not isinstance(pool_timeout, int | float) or pool_timeout <= 0:
            raise ConfigurationError(f"pool_timeout must be a number of seconds > 0, got {pool_timeout!r}")
        self._pool_timeout = float(pool_timeout)
        self._pool_recycle = _check_int("pool_recycle", pool_recycle, -1)
        self._pre_ping = _check_bool("pool_pre_ping", pool_pre_ping)
        self._auto_migrate = _check_bool("auto_migrate", auto_migrate)
        self._echo = _check_bool("echo", echo)
        if max_payload_bytes is not None:
            _check_int("max_payload_bytes", max_payload_bytes, 1)
        self._payload_explicit = max_payload_bytes != 16 * _MIB
        self._dialect = dialect_for(self._target.dialect)
        sqlite = self._target.dialect == "sqlite"
        self.capabilities = StorageCapabilities(
            sessions=True,
            multi_process=not sqlite,
            single_process_takeover=sqlite,
            max_payload_bytes=max_payload_bytes,
            detects_dead_workers=not sqlite,
        )
        self._guard = PayloadGuard(max_payload_bytes)
        self._init_lock: asyncio.Lock | None = None
        self._ready = False
        self._applied: list[str] = []
        # SQLite
        self._engine: AsyncEngine | None = None
        self._writer: SQLiteWriter | None = None
        self._writer_pool: WriterPool | None = None
        self._readers: SQLiteReaders | None = None
        # PostgreSQL / MySQL
        self._pool: ServerPool | None = None
        self._liveness: Liveness | None = None if sqlite else Liveness(self._target, self._dialect)
        self._last_reap = float("-inf")  # time.monotonic() of the last look for dead workers
        if use_listen_notify and self._target.dialect != "postgresql":
            raise ConfigurationError(
                f"use_listen_notify=True needs PostgreSQL; this is {self._target.describe()}. Leave it None (auto) "
                f"or False: other databases are polled."
            )
        self._notify = self._target.dialect == "postgresql" and use_listen_notify is not False
        self._tasks: set[asyncio.Task[Any]] = set()

    @classmethod
    def from_url(cls, url: str, **options: Any) -> SQLAlchemyStorage:
        """Build a storage for ``url`` (no I/O); the entry point of the ``edda.storage`` plugin group.

        Raises:
            ConfigurationError: an unknown option (the message lists the valid ones) or an invalid value.
        """
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise ConfigurationError(
                f"Unknown SQL storage option(s): {', '.join(unknown)}. Valid options: {', '.join(OPTIONS)}."
            )
        return cls(url, **options)

    def __repr__(self) -> str:
        return f"<SQLAlchemyStorage {self._target.describe()}>"

    @property
    def dialect(self) -> str:
        """``sqlite``, ``postgresql`` or ``mysql`` (MariaDB included)."""
        return self._target.dialect

    @property
    def engine(self) -> AsyncEngine:
        """The SQLAlchemy engine (after :meth:`initialize`), for your own tables and queries.

        On PostgreSQL and MySQL it is the storage's pooled engine. On SQLite its one connection is the process's
        single writer: ``engine.begin()``, ``engine.connect()`` and sessions bound to it take their turn from Edda's
        writer, so they work and never meet "database is locked", but Edda's writes of this process wait while you
        hold the connection: keep it short, and do not start or drive workflows until it is returned (that is
        refused with an error rather than waiting forever). To write your rows atomically with an activity's
        result, use ``ctx.session`` inside the activity instead.

        Raises:
            RuntimeError: the storage is not initialized (or closed).
        """
        engine = self._engine if self._pool is None else self._pool.engine
        if engine is None:
            raise RuntimeError("The storage is not initialized: call await storage.initialize() first.")
        return engine

    # -- lifecycle ---------------------------------------------------------------------------------------------------

    async def initialize(self) -> None:
        """Connect and apply pending schema migrations (exactly one of several starting workers applies them).

        Idempotent.

        Raises:
            StorageUnavailableError: the database cannot be reached; the message names dialect, host and port.
            ConfigurationError: ``auto_migrate=False`` and the schema is missing or old.
        """
        if self._init_lock is None:
            self._init_lock = asyncio.Lock()
        async with self._init_lock:
            if self._ready:
                return
            if self._target.dialect == "sqlite":
                await self._init_sqlite()
            else:
                await self._init_server()
            self._ready = True

    async def _init_sqlite(self) -> None:
        target = self._target
        if target.sqlite_path is not None:
            try:
                await asyncio.to_thread(probe, target.sqlite_path)
            except sqlite3.Error as exc:
                raise unavailable(target, exc, doing="open") from exc
        engine, captured = open_writer_engine(target, echo=self._echo)
        pool = engine.sync_engine.pool
        assert isinstance(pool, WriterPool)
        writer = SQLiteWriter(pool.writer_link(SQLiteLink(engine, captured, in_memory=target.in_memory)))
        try:
            self._applied = await writer.setup(partial(migrate_sqlite, target=target, auto_migrate=self._auto_migrate))
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

    def _server_engine(self) -> AsyncEngine:
        url = self._target.url
        connect_args: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        if self._target.dialect == "postgresql":
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
            pool_size=self._pool_size,
            max_overflow=self._max_overflow,
            pool_timeout=self._pool_timeout,
            pool_recycle=self._pool_recycle,
            pool_pre_ping=False,
            echo=self._echo,
            connect_args=connect_args,
            **extra,
        )

    async def _init_server(self) -> None:
        target = self._target
        engine = self._server_engine()
        if target.dialect == "postgresql":
            pool = ServerPool(engine, target, runner=run_asyncpg, pre_ping=self._pre_ping, slots=self._pool_size)
        else:
            runner = partial(run_aiomysql, handles=is_duplicate_key)
            pool = ServerPool(engine, target, runner=runner, pre_ping=self._pre_ping, slots=self._pool_size)

        async def prepare(driver: Any) -> list[str]:
            if target.dialect == "postgresql":
                return await migrate_postgresql(driver, target, auto_migrate=self._auto_migrate)
            applied = await migrate_mysql(driver, target, auto_migrate=self._auto_migrate)
            await self._fit_mysql_packet(driver)
            return applied

        try:
            self._applied = await pool.with_driver(prepare)
        except (ConfigurationError, StorageUnavailableError):
            await pool.dispose()
            raise
        except Exception as exc:
            await pool.dispose()
            if is_disconnect(exc):
                raise unavailable(target, exc, doing="prepare") from exc
            raise
        self._pool = pool

    async def _fit_mysql_packet(self, driver: Any) -> None:
        async with driver.cursor() as cur:
            await cur.execute("SELECT @@max_allowed_packet")
            packet = int((await cur.fetchone())[0])
        await driver.commit()
        # A value travels escaped inside the statement (up to twice its size), next to the rest of the row.
        fit = max(1, (packet - _MIB) // 2)
        limit = self._guard.limit
        if limit is None or limit > fit:
            logger.log(
                logging.WARNING if self._payload_explicit else logging.INFO,
                "Storing values up to %s bytes on the %s: its max_allowed_packet is %s bytes. Raise max_allowed_packet "
                "on the server to store larger values.",
                fit,
                self._target.describe(),
                packet,
            )
            self._guard = PayloadGuard(fit)
            self.capabilities = replace(self.capabilities, max_payload_bytes=fit)

    async def close(self) -> None:
        """Finish queued writes and release every connection. Idempotent."""
        self._ready = False
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
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._liveness is not None:
            await self._liveness.close()
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.dispose()

    async def __aenter__(self) -> SQLAlchemyStorage:
        await self.initialize()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- running operations ------------------------------------------------------------------------------------------

    def _not_ready(self) -> RuntimeError:
        return RuntimeError("The storage is not initialized (or was closed): call await storage.initialize() first.")

    async def _sqlite(self, call: Callable[[], Any]) -> Any:
        try:
            return await call()
        except sqlite3.Error as exc:
            if is_sqlite_unavailable(exc):
                raise unavailable(self._target, exc, doing="write to") from exc
            raise

    def _own_turn(self) -> RuntimeError:
        return RuntimeError(
            "This task holds the SQLite writer connection (checked out through storage.engine, or a session bound to "
            "it) and asked Edda's storage to write, which needs that same connection and would wait forever. Commit "
            "or close that connection first; to write your rows and Edda's state atomically, use ctx.session inside "
            "an activity, or storage.transaction()."
        )

    async def _write(self, make_op: Callable[[], Op[T]], *, urgent: bool = False) -> T:
        if self._pool is not None:
            return await self._pool.run(make_op, read=False, urgent=urgent)
        if self._writer is None:
            raise self._not_ready()
        if self._writer_pool is not None and self._writer_pool.held_by_current_task():
            raise self._own_turn()
        writer = self._writer
        op = make_op()
        return await self._sqlite(lambda: writer.submit(partial(run_sync, op)))

    async def _read(self, make_op: Callable[[], Op[T]]) -> T:
        if self._pool is not None:
            return await self._pool.run(make_op, read=True)
        op = make_op()
        if self._readers is not None:
            readers = self._readers
            return await self._sqlite(lambda: readers.run(partial(run_sync, op)))
        if self._writer is None:
            raise self._not_ready()
        if self._writer_pool is not None and self._writer_pool.held_by_current_task():
            raise self._own_turn()
        writer = self._writer
        return await self._sqlite(lambda: writer.submit(partial(run_sync, op)))  # in-memory: one connection

    # -- transactions ------------------------------------------------------------------------------------------------

    def begin(self) -> SQLTransaction:
        """A new transaction, without I/O: its connection is taken on first use (``tx.session`` or a write).

        ``commit_step(..., tx=tx)`` writes inside it; ``tx.session`` is a SQLAlchemy ``AsyncSession`` on the same
        connection, so business rows and Edda's history commit atomically in ``await tx.commit()`` (or vanish in
        ``await tx.rollback()``); one of the two must be called. On SQLite the transaction holds the single writer
        from first use to the end: other writes of the process wait, so keep it short, and do not call storage
        writes without ``tx=tx`` inside it.
        """
        if self._pool is not None:
            runner = _run_mysql_in_tx if self._target.dialect == "mysql" else run_sqlalchemy
            return SQLTransaction(self._pool.engine, owner=self, runner=runner, map_error=self._tx_error)
        if self._writer is None or self._engine is None:
            raise self._not_ready()
        writer = self._writer

        def hold() -> Callable[[], None]:
            return writer.request_hold().release

        return SQLTransaction(self._engine, owner=self, on_start=hold, map_error=self._tx_error)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SQLTransaction]:
        """:meth:`begin` as a block: committed when the block exits normally, rolled back if it raises."""
        tx = self.begin()
        try:
            yield tx
        except BaseException:
            await tx.rollback()
            raise
        await tx.commit()

    def _tx_error(self, exc: Exception) -> Exception:
        if isinstance(exc, sqlite3.Error) and is_sqlite_unavailable(exc):
            return unavailable(self._target, exc, doing="write to")
        if self._target.dialect != "sqlite" and is_disconnect(exc):
            if self._pool is not None:
                self._pool.note_disconnect()
            return unavailable(self._target, exc, doing="use")
        if self._target.dialect != "sqlite" and is_conflict(exc):
            # Outside a transaction the pool retries these; inside one, the whole transaction (the activity's
            # business writes included) is gone, so the run is retried from history, as after a lost connection.
            return StorageConflictError(
                f"The {self._target.describe()} rolled the transaction back to resolve a deadlock or serialization "
                f"conflict ({type(exc).__name__}); nothing of it was written, and it is retried from history."
            )
        return exc

    # -- instances ---------------------------------------------------------------------------------------------------

    async def create_instance(self, new: NewInstance) -> tuple[InstanceRecord, bool]:
        """Create the instance (owned by ``new.owner_id``, lease epoch 1), or return the existing one unchanged."""
        d = self._dialect
        encoded = _ops.encode_instance(d, self._guard, new)  # validates the payload before touching the database
        return await self._write(lambda: _ops.create_instance(d, encoded))

    async def get_instance(self, instance_id: str) -> InstanceRecord | None:
        """The instance, or ``None``."""
        return await self._read(lambda: _ops.get_instance(self._dialect, instance_id))

    async def find_instances(self, query: InstanceQuery) -> InstancePage:
        """Instances matching every filter, newest first, one page at a time (see the storage protocol)."""
        d = self._dialect
        prepared = _ops.prepare_find(d, query)  # validates the filters
        return await self._read(lambda: _ops.find_instances(d, prepared, query.limit))

    async def request_cancel(self, instance_id: str, *, now: datetime) -> InstanceRecord | None:
        """Flag an unfinished instance for cancellation; returns the record after the change, or ``None``."""
        return await self._write(lambda: _ops.request_cancel(self._dialect, instance_id, now))

    # -- history -----------------------------------------------------------------------------------------------------

    async def get_history(self, instance_id: str, *, iteration: int | None = None) -> list[HistoryEvent]:
        """The history of one iteration (default: the current one), in ``seq`` order."""
        return await self._read(lambda: _ops.get_history(self._dialect, instance_id, iteration))

    async def get_histories(self, instance_ids: Sequence[str]) -> dict[str, list[HistoryEvent]]:
        """The current history of several instances in one read (a recovery pass loads its batch this way).

        Instances without history are missing from the result, as are unknown ids."""
        if not instance_ids:
            return {}
        return await self._read(lambda: _ops.get_histories(self._dialect, instance_ids))

    # -- the unit of work --------------------------------------------------------------------------------------------

    async def commit_step(self, commit: StepCommit, *, tx: Transaction | None = None) -> StepOutcome:
        """Apply ``commit`` atomically (in ``tx`` if given), fenced by its lease.

        Raises:
            LeaseLostError: the fence no longer holds; nothing was written.
            PayloadTooLargeError: a value is over ``max_payload_bytes``; nothing was written.
            ChannelModeConflictError: a subscription asks for another mode than its channel's; nothing was written.
            StorageUnavailableError: the connection was lost.
        """
        d = self._dialect
        step = _commit.encode_step(d, self._guard, commit)
        if tx is not None:
            if not isinstance(tx, SQLTransaction):
                raise TypeError(
                    "tx must be a SQLTransaction of this storage (from its begin() or transaction()), "
                    f"got {type(tx).__name__}"
                )
            outcome = await tx.run(_commit.commit_step(d, step), self)
            # woken instances become visible when ``tx`` commits; the committing app resumes them itself
            return outcome
        return await self._write(lambda: _commit.commit_step(d, step))

    def set_wake_callback(self, callback: Callable[[tuple[str, ...]], None]) -> None:
        """PostgreSQL: call ``callback(instance_ids)`` when another process commits work for them (LISTEN/NOTIFY).

        Enabled by default on PostgreSQL (``use_listen_notify=None``); a no-op elsewhere or with ``False``."""
        if not self._notify or self._liveness is None:
            return
        liveness = self._liveness
        self._spawn(liveness.listen(callback))

    def announce_wake(self, instance_ids: tuple[str, ...]) -> None:
        """PostgreSQL: tell the other processes (NOTIFY) that these instances can run; best effort, in the background.

        Commits never notify by themselves: the app first tries to run what a commit woke, and announces only what
        it could not take (held by another worker, or a workflow it does not define)."""
        if instance_ids and self._notify and self._liveness is not None:
            self._spawn(self._liveness.notify(tuple(instance_ids)))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- leases ------------------------------------------------------------------------------------------------------

    async def claim_instance(
        self, instance_id: str, *, worker_id: str, now: datetime, lease_expires_at: datetime
    ) -> InstanceRecord | None:
        """Take the lease of an unfinished instance that is unowned, expired, or already ``worker_id``'s."""
        return await self._write(
            lambda: _ops.claim_instance(self._dialect, instance_id, worker_id, now, lease_expires_at), urgent=True
        )

    async def claim_runnable(
        self, *, worker_id: str, now: datetime, lease_expires_at: datetime, limit: int
    ) -> list[InstanceRecord]:
        """Claim up to ``limit`` instances that need a worker (``FOR UPDATE SKIP LOCKED`` on servers).

        On PostgreSQL and MySQL the leases of workers whose process died are expired first (see
        :mod:`._liveness`), so their instances are claimed in this pass.
        """
        if self._liveness is not None and time.monotonic() - self._last_reap >= REAP_MIN_INTERVAL_SECONDS:
            # Back-to-back passes (a backlog of due timers, a burst of work) need not each look for dead workers.
            self._last_reap = time.monotonic()
            reaped = await self._liveness.reap(now)
            if reaped:
                logger.info("Took over %d instance(s) of worker(s) whose process died", reaped)
        return await self._write(
            lambda: _ops.claim_runnable(self._dialect, worker_id, now, lease_expires_at, limit), urgent=True
        )

    async def renew_leases(self, fences: list[Fence], *, lease_expires_at: datetime) -> set[str]:
        """Extend the leases still held as fenced; returns the renewed instance ids."""
        fences = list(fences)
        if not fences:
            return set()
        return await self._write(lambda: _ops.renew_leases(self._dialect, fences, lease_expires_at))

    async def release_foreign_leases(self, *, worker_id: str) -> int:
        """Clear every lease not held by ``worker_id``; returns how many."""
        return await self._write(lambda: _ops.release_foreign_leases(self._dialect, worker_id))

    # -- channels ----------------------------------------------------------------------------------------------------

    async def publish(self, message: NewMessage, *, now: datetime) -> tuple[ChannelMessageRecord, tuple[str, ...]]:
        """Store ``message`` and wake its waiting receivers; returns the stored message and the ids woken."""
        d = self._dialect
        encoded = _channels.encode_message(self._guard, message)
        record, woken = await self._write(lambda: _channels.publish(d, encoded, now))
        return record, woken

    async def receive_or_wait(
        self, commit: StepCommit, *, channel: str, step_id: str, wait: InstanceUpdate | None
    ) -> ChannelMessageRecord | None:
        """Atomically apply ``commit``, then take the first deliverable message on ``channel`` or record the wait."""
        d = self._dialect
        step = _commit.encode_step(d, self._guard, commit)
        waiting = None if wait is None else _commit.encode_update(d, self._guard, wait)
        return await self._write(
            lambda: _commit.receive_or_wait(d, step, channel=channel, step_id=step_id, wait=waiting)
        )

    async def cleanup_messages(self, *, older_than: datetime) -> int:
        """Delete delivered messages published before ``older_than``; returns how many."""
        return await self._write(lambda: _channels.cleanup_messages(self._dialect, older_than))

    # -- workers and timers ------------------------------------------------------------------------------------------

    async def register_worker(self, worker_id: str) -> None:
        """Tie ``worker_id``'s liveness to a session of its own (PostgreSQL advisory lock, MySQL named lock), so
        its instances are taken over as soon as its process dies. No-op on SQLite (one process per database)."""
        if self._liveness is not None:
            await self._liveness.register(worker_id, datetime.now(UTC))

    async def unregister_worker(self, worker_id: str) -> None:
        """Release ``worker_id``'s liveness lock (a clean stop)."""
        if self._liveness is not None:
            await self._liveness.unregister(worker_id)

    async def next_wake_at(self) -> datetime | None:
        """The earliest ``wake_at`` of an unfinished, unowned instance, or ``None``."""
        return await self._read(lambda: _channels.next_wake_at(self._dialect))

    # -- outbox ------------------------------------------------------------------------------------------------------

    async def list_outbox(self, *, status: str | None = None, limit: int = 100) -> list[OutboxEvent]:
        """Outbox events in ``seq`` (commit) order, optionally only those with ``status``."""
        return await self._read(lambda: _outbox.list_outbox(self._dialect, status, limit))

    async def claim_outbox(
        self, *, worker_id: str, now: datetime, claim_expires_at: datetime, limit: int
    ) -> list[OutboxEvent]:
        """Claim up to ``limit`` due events to send, oldest first, at most the oldest pending one per instance."""
        return await self._write(lambda: _outbox.claim_outbox(self._dialect, worker_id, now, claim_expires_at, limit))

    async def finish_outbox(
        self, event_id: str, *, worker_id: str, status: str, now: datetime, error: str | None = None
    ) -> bool:
        """Record a claimed event's outcome (``published``, ``failed`` or ``expired``); False if no longer held."""
        make = partial(_outbox.finish_outbox, self._dialect, event_id, worker_id, status, now, error)
        make()  # validates ``status`` before any I/O
        return await self._write(make)

    async def retry_outbox(self, event_id: str, *, worker_id: str, error: str, next_attempt_at: datetime) -> bool:
        """Count a failed send, record ``error`` and make the event due at ``next_attempt_at``; False if not held."""
        return await self._write(
            lambda: _outbox.retry_outbox(self._dialect, event_id, worker_id, error, next_attempt_at)
        )


async def _run_mysql_in_tx(op: Op[T], conn: AsyncConnection) -> T:
    # The session's connection is in an implicit MySQL transaction (autocommit off; SQLAlchemy's BEGIN is a no-op),
    # so the raw driver joins it. (On asyncpg SQLAlchemy starts its transaction lazily, so PostgreSQL goes through
    # SQLAlchemy instead.)
    raw = await conn.get_raw_connection()
    return await run_aiomysql(op, raw.driver_connection, commit=False)
