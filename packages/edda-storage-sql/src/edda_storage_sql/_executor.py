"""The executor: how the storage's operations reach the database, one implementation per kind of database.

``SQLAlchemyStorage`` writes each operation once, as a statement generator (:mod:`._sql`), and hands it to the
executor it picked from the URL when it was built:

* :class:`~edda_storage_sql._sqlite_executor.SQLiteExecutor`: one process, many tasks. Every write goes through the
  process's single writer connection, fed by a queue and group-committed (:mod:`._writer`); users borrow that
  connection through its pool (:mod:`._writer_pool`); reads run on their own connections (:mod:`._sqlite`).
* :class:`~edda_storage_sql._server_executor.ServerExecutor`: PostgreSQL or MySQL/MariaDB shared by many processes.
  Operations run on a SQLAlchemy connection pool with cheap liveness checks and priority slots (:mod:`._pool`);
  workers hold session locks that reveal a dead process, and PostgreSQL wakes other processes with LISTEN/NOTIFY
  (:mod:`._liveness`).

The storage itself never asks which database it is on: what differs lives behind :class:`Executor`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from edda_storage_sql._sql import Op
from edda_storage_sql._transaction import SQLTransaction

__all__ = ["Executor", "Opened", "not_ready"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Opened:
    """What :meth:`Executor.open` found: the migrations it applied, and the payload limit that fits the database."""

    applied: list[str]
    max_payload_bytes: int | None


def not_ready() -> RuntimeError:
    """The error of an operation on a storage that is not initialized (or was closed)."""
    return RuntimeError("The storage is not initialized (or was closed): call await storage.initialize() first.")


class Executor(Protocol):
    """Runs operations on one database; built without I/O, then :meth:`open`, and reusable after :meth:`close`."""

    multi_process: bool
    """Whether several processes may share the database (and a dead one's workers are detected)."""

    @property
    def engine(self) -> AsyncEngine | None:
        """The SQLAlchemy engine while open (``None`` otherwise)."""
        ...

    async def open(self, *, max_payload_bytes: int | None) -> Opened:
        """Connect and apply pending migrations; ``max_payload_bytes`` is lowered if the database needs it.

        Raises:
            StorageUnavailableError: the database cannot be reached.
            ConfigurationError: migrations are pending and ``auto_migrate`` is off.
        """
        ...

    async def close(self) -> None:
        """Finish queued writes, stop background tasks and release every connection. Idempotent."""
        ...

    async def write(self, make_op: Callable[[], Op[T]], *, urgent: bool = False, step: bool = False) -> T:
        """Run ``make_op()`` and commit it; ``urgent`` ones (claims) may go ahead of operations waiting to run, then
        ``step`` ones (a run's commits) ahead of the rest.

        ``make_op`` may be called again to retry on a fresh connection (an ``Op`` runs once).
        """
        ...

    async def read(
        self, make_op: Callable[[], Op[T]], *, point: bool = False, urgent: bool = False, step: bool = False
    ) -> T:
        """Run the read-only ``make_op()``; ``point``: it reads a few rows by key (an executor may run it inline);
        ``urgent`` and ``step`` as for :meth:`write` (a run's history; the timer loop's next due time)."""
        ...

    def begin(self, *, owner: object) -> SQLTransaction:
        """A user-visible transaction (no I/O until first used) whose ``run`` accepts ``owner``'s operations."""
        ...

    async def reap_dead_workers(self, now: datetime) -> None:
        """Expire the leases of workers whose process died (at most every so often), before a claim pass."""
        ...

    async def register_worker(self, worker_id: str) -> None:
        """Tie ``worker_id``'s liveness to a database session of its own (no-op where there is one process)."""
        ...

    async def unregister_worker(self, worker_id: str) -> None:
        """Release ``worker_id``'s liveness (a clean stop)."""
        ...

    def set_wake_callback(self, callback: Callable[[tuple[str, ...]], None]) -> None:
        """Call ``callback(instance_ids)`` when another process announces work (returns at once)."""
        ...

    def announce_wake(self, instance_ids: tuple[str, ...]) -> None:
        """Tell the other processes these instances can run (in the background, best effort)."""
        ...
