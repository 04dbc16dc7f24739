"""``SQLAlchemyStorage``: Edda's storage SPI on SQLite, PostgreSQL and MySQL/MariaDB.

A facade: each method checks and encodes its input (raising on a bad value before any I/O: ids no database can store
or compare exactly are refused, see :mod:`edda.storage.keys`), builds its operation from the
statement generators (:mod:`._instances`, :mod:`._history`, :mod:`._leases`, :mod:`._commit`, :mod:`._channels`,
:mod:`._outbox`) and hands it to the executor picked once from the URL (:mod:`._executor`): the SQLite writer and
readers, or the server connection pool. Nothing here depends on which database it is.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from edda.exceptions import ConfigurationError
from edda.storage.keys import check_commit, check_key, check_keys, check_text, clean_text, workflow_name_set
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
from edda_storage_sql import _channels, _commit, _history, _instances, _leases, _outbox, _retention
from edda_storage_sql._codec import PayloadGuard
from edda_storage_sql._dialects import dialect_for
from edda_storage_sql._executor import Executor
from edda_storage_sql._options import DEFAULT_MAX_PAYLOAD_BYTES, OPTIONS, StorageOptions
from edda_storage_sql._server_executor import ServerExecutor
from edda_storage_sql._sqlite_executor import SQLiteExecutor
from edda_storage_sql._transaction import SQLTransaction
from edda_storage_sql._url import DatabaseTarget, parse_database_url

__all__ = ["SQLAlchemyStorage"]


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
        max_payload_bytes: int | None = DEFAULT_MAX_PAYLOAD_BYTES,
        echo: bool = False,
        use_listen_notify: bool | None = None,
    ) -> None:
        self._target: DatabaseTarget = parse_database_url(url)
        options = StorageOptions(
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=pool_timeout,
            pool_recycle=pool_recycle,
            pool_pre_ping=pool_pre_ping,
            auto_migrate=auto_migrate,
            max_payload_bytes=max_payload_bytes,
            echo=echo,
            use_listen_notify=use_listen_notify,
        )
        self._dialect = dialect_for(self._target.dialect)
        # The one place that asks which database this is; everything that differs lives in the executor.
        self._executor: Executor = (
            SQLiteExecutor(self._target, options)
            if self._target.dialect == "sqlite"
            else ServerExecutor(self._target, self._dialect, options)
        )
        shared = self._executor.multi_process
        self.capabilities = StorageCapabilities(
            sessions=True,
            multi_process=shared,
            single_process_takeover=not shared,
            max_payload_bytes=max_payload_bytes,
            detects_dead_workers=shared,
        )
        self._guard = PayloadGuard(max_payload_bytes)
        self._init_lock: asyncio.Lock | None = None
        self._ready = False
        self._applied: list[str] = []

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
        engine = self._executor.engine
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
            opened = await self._executor.open(max_payload_bytes=self._guard.limit)
            self._applied = opened.applied
            if opened.max_payload_bytes != self._guard.limit:  # MySQL: what max_allowed_packet lets through
                self._guard = PayloadGuard(opened.max_payload_bytes)
                self.capabilities = replace(self.capabilities, max_payload_bytes=opened.max_payload_bytes)
            self._ready = True

    async def close(self) -> None:
        """Finish queued writes and release every connection. Idempotent."""
        self._ready = False
        await self._executor.close()

    async def __aenter__(self) -> SQLAlchemyStorage:
        await self.initialize()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- transactions ------------------------------------------------------------------------------------------------

    def begin(self) -> SQLTransaction:
        """A new transaction, without I/O: its connection is taken on first use (``tx.session`` or a write).

        ``commit_step(..., tx=tx)`` writes inside it; ``tx.session`` is a SQLAlchemy ``AsyncSession`` on the same
        connection, so business rows and Edda's history commit atomically in ``await tx.commit()`` (or vanish in
        ``await tx.rollback()``); one of the two must be called. On SQLite the transaction holds the single writer
        from first use to the end: other writes of the process wait, so keep it short, and do not call storage
        writes without ``tx=tx`` inside it.
        """
        return self._executor.begin(owner=self)

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

    # -- instances ---------------------------------------------------------------------------------------------------

    async def create_instance(self, new: NewInstance) -> tuple[InstanceRecord, bool]:
        """Create the instance (owned by ``new.owner_id``, lease epoch 1), or return the existing one unchanged."""
        d = self._dialect
        check_key(new.instance_id, "instance id")
        check_key(new.workflow_name, "workflow name")
        check_key(new.owner_id, "worker id")
        encoded = _instances.encode_instance(d, self._guard, new)  # validates the payload before any I/O
        return await self._executor.write(lambda: _instances.create_instance(d, encoded))

    async def get_instance(self, instance_id: str) -> InstanceRecord | None:
        """The instance, or ``None``."""
        check_key(instance_id, "instance id")
        return await self._executor.read(lambda: _instances.get_instance(self._dialect, instance_id), point=True)

    async def get_instances(self, instance_ids: Sequence[str]) -> dict[str, InstanceRecord]:
        """Several instances in one read (``wait_for_result`` polls its waiters this way); unknown ids are left out."""
        if not instance_ids:
            return {}
        check_keys(instance_ids, "instance id")
        return await self._executor.read(lambda: _instances.get_instances(self._dialect, instance_ids), point=True)

    async def find_instances(self, query: InstanceQuery) -> InstancePage:
        """Instances matching every filter, newest first, one page at a time (see the storage protocol)."""
        d = self._dialect
        for what, text in (("status filter", query.status), ("workflow name filter", query.workflow_name)):
            check_text(text, what)
        check_text(query.instance_id, "instance id filter")
        check_text(None if query.cursor is None else query.cursor[1], "page token")
        for path, value in query.input_filters:
            check_text(value, f"input filter {path!r}")
        prepared = _instances.prepare_find(d, query)  # validates the filters
        return await self._executor.read(lambda: _instances.find_instances(d, prepared, query.limit))

    async def request_cancel(self, instance_id: str, *, now: datetime) -> InstanceRecord | None:
        """Flag an unfinished instance for cancellation; returns the record after the change, or ``None``."""
        check_key(instance_id, "instance id")
        return await self._executor.write(lambda: _instances.request_cancel(self._dialect, instance_id, now))

    async def reopen_instance(self, instance_id: str, *, now: datetime) -> bool:
        """Make a ``failed`` instance runnable again (status ``running``, error cleared, no owner); False if none."""
        return await self._executor.write(lambda: _instances.reopen_instance(self._dialect, instance_id, now))

    # -- retention ---------------------------------------------------------------------------------------------------

    async def find_expired_instances(self, *, finished_before: datetime, limit: int) -> list[InstanceRecord]:
        """Up to ``limit`` instances retention would delete at ``finished_before``, the earliest finished first."""
        make = partial(_retention.find_expired, self._dialect, finished_before, limit)
        make()  # validates ``limit`` before any I/O
        return await self._executor.read(make)

    async def count_expired_instances(self, *, finished_before: datetime) -> int:
        """How many instances retention would delete at ``finished_before``."""
        return await self._executor.read(lambda: _retention.count_expired(self._dialect, finished_before))

    async def delete_expired_instances(self, *, finished_before: datetime, limit: int) -> int:
        """Delete up to ``limit`` expired instances with their history, in one transaction; returns how many."""
        make = partial(_retention.delete_expired, self._dialect, finished_before, limit)
        make()  # validates ``limit`` before any I/O
        return await self._executor.write(make)

    # -- history -----------------------------------------------------------------------------------------------------

    async def get_history(self, instance_id: str, *, iteration: int | None = None) -> list[HistoryEvent]:
        """The history of one iteration (default: the current one), in ``seq`` order."""
        check_key(instance_id, "instance id")
        return await self._executor.read(
            lambda: _history.get_history(self._dialect, instance_id, iteration), point=True, step=True
        )

    async def get_histories(self, instance_ids: Sequence[str]) -> dict[str, list[HistoryEvent]]:
        """The current history of several instances in one read (a recovery pass loads its batch this way).

        Instances without history are missing from the result, as are unknown ids."""
        if not instance_ids:
            return {}
        check_keys(instance_ids, "instance id")
        return await self._executor.read(
            lambda: _history.get_histories(self._dialect, instance_ids), point=True, step=True
        )

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
        check_commit(commit)
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
        return await self._executor.write(lambda: _commit.commit_step(d, step), step=True)

    def set_wake_callback(self, callback: Callable[[tuple[str, ...]], None]) -> None:
        """PostgreSQL: call ``callback(instance_ids)`` when another process commits work for them (LISTEN/NOTIFY).

        Enabled by default on PostgreSQL (``use_listen_notify=None``); a no-op elsewhere or with ``False``."""
        self._executor.set_wake_callback(callback)

    def announce_wake(self, instance_ids: tuple[str, ...]) -> None:
        """PostgreSQL: tell the other processes (NOTIFY) that these instances can run; best effort, in the background.

        Commits never notify by themselves: the app first tries to run what a commit woke, and announces only what
        it could not take (held by another worker, or a workflow it does not define)."""
        self._executor.announce_wake(instance_ids)

    # -- leases ------------------------------------------------------------------------------------------------------

    async def claim_instance(
        self, instance_id: str, *, worker_id: str, now: datetime, lease_expires_at: datetime
    ) -> InstanceRecord | None:
        """Take the lease of an unfinished instance that is unowned, expired, or already ``worker_id``'s."""
        check_key(instance_id, "instance id")
        check_key(worker_id, "worker id")
        return await self._executor.write(
            lambda: _leases.claim_instance(self._dialect, instance_id, worker_id, now, lease_expires_at), urgent=True
        )

    async def claim_runnable(
        self, *, worker_id: str, now: datetime, lease_expires_at: datetime, limit: int
    ) -> list[InstanceRecord]:
        """Claim up to ``limit`` instances that need a worker (``FOR UPDATE SKIP LOCKED`` on servers).

        On PostgreSQL and MySQL the leases of workers whose process died are expired first (see
        :mod:`._liveness`), so their instances are claimed in this pass.
        """
        check_key(worker_id, "worker id")
        await self._executor.reap_dead_workers(now)
        return await self._executor.write(
            lambda: _leases.claim_runnable(self._dialect, worker_id, now, lease_expires_at, limit), urgent=True
        )

    async def claim_runnable_of(
        self,
        workflow_names: Collection[str],
        *,
        worker_id: str,
        now: datetime,
        lease_expires_at: datetime,
        limit: int,
    ) -> list[InstanceRecord]:
        """:meth:`claim_runnable`, of the instances of ``workflow_names`` only: another service's instances in the
        same database are neither claimed nor changed."""
        check_key(worker_id, "worker id")
        names = workflow_name_set(workflow_names)
        await self._executor.reap_dead_workers(now)
        return await self._executor.write(
            lambda: _leases.claim_runnable(self._dialect, worker_id, now, lease_expires_at, limit, names), urgent=True
        )

    async def renew_leases(self, fences: list[Fence], *, lease_expires_at: datetime) -> set[str]:
        """Extend the leases still held as fenced; returns the renewed instance ids."""
        fences = list(fences)
        if not fences:
            return set()
        return await self._executor.write(lambda: _leases.renew_leases(self._dialect, fences, lease_expires_at))

    async def release_foreign_leases(self, *, worker_id: str) -> int:
        """Clear every lease not held by ``worker_id``; returns how many."""
        return await self._executor.write(lambda: _leases.release_foreign_leases(self._dialect, worker_id))

    # -- channels ----------------------------------------------------------------------------------------------------

    async def publish(self, message: NewMessage, *, now: datetime) -> tuple[ChannelMessageRecord, tuple[str, ...]]:
        """Store ``message`` and wake its waiting receivers; returns the stored message and the ids woken."""
        d = self._dialect
        check_key(message.channel, "channel name")
        check_key(message.target_instance_id, "target instance id")
        check_text(message.message_id, "message id")
        encoded = _channels.encode_message(self._guard, message)
        record, woken = await self._executor.write(lambda: _channels.publish(d, encoded, now))
        return record, woken

    async def receive_or_wait(
        self, commit: StepCommit, *, channel: str, step_id: str, wait: InstanceUpdate | None
    ) -> ChannelMessageRecord | None:
        """Atomically apply ``commit``, then take the first deliverable message on ``channel`` or record the wait."""
        d = self._dialect
        check_key(channel, "channel name")
        check_text(step_id, "step id")
        check_commit(commit)
        step = _commit.encode_step(d, self._guard, commit)
        waiting = None if wait is None else _commit.encode_update(d, self._guard, wait)
        return await self._executor.write(
            lambda: _commit.receive_or_wait(d, step, channel=channel, step_id=step_id, wait=waiting), step=True
        )

    async def cleanup_messages(self, *, older_than: datetime) -> int:
        """Delete messages published before ``older_than`` that were delivered, or are addressed to an instance that
        does not exist or has finished (nobody will ever take them); returns how many."""
        return await self._executor.write(lambda: _channels.cleanup_messages(self._dialect, older_than))

    # -- workers and timers ------------------------------------------------------------------------------------------

    async def register_worker(self, worker_id: str) -> None:
        """Tie ``worker_id``'s liveness to a session of its own (PostgreSQL advisory lock, MySQL named lock), so
        its instances are taken over as soon as its process dies. No-op on SQLite (one process per database)."""
        check_key(worker_id, "worker id")
        await self._executor.register_worker(worker_id)

    async def unregister_worker(self, worker_id: str) -> None:
        """Release ``worker_id``'s liveness lock (a clean stop)."""
        await self._executor.unregister_worker(worker_id)

    async def next_wake_at(self) -> datetime | None:
        """The earliest ``wake_at`` of an unfinished, unowned instance, or ``None``."""
        return await self._executor.read(lambda: _channels.next_wake_at(self._dialect), point=True, urgent=True)

    async def next_wake_at_of(self, workflow_names: Collection[str]) -> datetime | None:
        """:meth:`next_wake_at` among the instances of ``workflow_names`` only."""
        names = workflow_name_set(workflow_names)
        return await self._executor.read(lambda: _channels.next_wake_at(self._dialect, names), point=True, urgent=True)

    # -- outbox ------------------------------------------------------------------------------------------------------

    async def list_outbox(self, *, status: str | None = None, limit: int = 100) -> list[OutboxEvent]:
        """Outbox events in ``seq`` (commit) order, optionally only those with ``status``."""
        return await self._executor.read(lambda: _outbox.list_outbox(self._dialect, status, limit))

    async def get_outbox_event(self, event_id: str) -> OutboxEvent | None:
        """The outbox event ``event_id`` (the first written with that id), or ``None``."""
        check_key(event_id, "outbox event id")
        return await self._executor.read(lambda: _outbox.get_outbox_event(self._dialect, event_id), point=True)

    async def claim_outbox(
        self, *, worker_id: str, now: datetime, claim_expires_at: datetime, limit: int
    ) -> list[OutboxEvent]:
        """Claim up to ``limit`` due events to send, oldest first, at most the oldest pending one per instance."""
        return await self._executor.write(
            lambda: _outbox.claim_outbox(self._dialect, worker_id, now, claim_expires_at, limit)
        )

    async def finish_outbox(
        self, event_id: str, *, worker_id: str, status: str, now: datetime, error: str | None = None
    ) -> bool:
        """Record a claimed event's outcome (``published``, ``failed`` or ``expired``); False if no longer held."""
        make = partial(_outbox.finish_outbox, self._dialect, event_id, worker_id, status, now, clean_text(error))
        make()  # validates ``status`` before any I/O
        return await self._executor.write(make)

    async def retry_outbox(self, event_id: str, *, worker_id: str, error: str, next_attempt_at: datetime) -> bool:
        """Count a failed send, record ``error`` and make the event due at ``next_attempt_at``; False if not held."""
        error = clean_text(error) or ""
        return await self._executor.write(
            lambda: _outbox.retry_outbox(self._dialect, event_id, worker_id, error, next_attempt_at)
        )

    async def resend_outbox(self, event_id: str, *, now: datetime) -> bool:
        """Make a failed, expired or skipped event pending again (attempts reset); False if there is none such."""
        check_key(event_id, "outbox event id")
        return await self._executor.write(lambda: _outbox.resend_outbox(event_id))

    async def skip_outbox(self, event_id: str, *, now: datetime) -> bool:
        """Mark a pending or failed event skipped, so its instance's later events go out; False if none such."""
        check_key(event_id, "outbox event id")
        return await self._executor.write(lambda: _outbox.skip_outbox(event_id))
