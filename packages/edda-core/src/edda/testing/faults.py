"""Fault injection for reliability tests: storage calls that fail the way real databases fail, and crash points.

:class:`FaultInjectingStorage` wraps any :class:`~edda.storage.Storage` and makes a share of its calls fail, chosen
by a seeded random draw per call, at rates you set per kind of fault and per kind of call:

- ``lost_before``: the connection is lost before the call reaches the database; nothing happened.
- ``lost_after``: the database did the call (and committed it), then the connection was lost before the reply; the
  caller sees an error although the write happened.
- ``conflict``: a deadlock or serialization failure; the database rolled the write back (writes only).
- ``timeout``: no connection or no answer in time; nothing happened (optionally after ``timeout_delay`` seconds).
- ``read_only``: the database answers but refuses writes (a standby after a failover, a full disk); a spell of
  ``read_only_spell`` consecutive writes is refused (writes only).

It raises what the SQL storage raises for these: :class:`~edda.exceptions.StorageUnavailableError`, and its subclass
:class:`~edda.exceptions.StorageConflictError` for conflicts. A fault in a call made inside a transaction
(``commit_step(..., tx=tx)``) breaks that transaction, as a lost connection does: its ``commit()`` then fails and
nothing of it is written. Each draw depends only on the seed, the call's name and how many calls of that name came
before, so a run is reproducible as far as its calls come in the same order per name.

:class:`KillAfterWrites` SIGKILLs its own process right after the k-th write of a run (a crash test's commit point);
:func:`from_environment` wraps a storage in it when ``EDDA_FAULT_KILL_AFTER_WRITES`` is set. This module is opt-in:
only test programs import it.

Longer than 500 lines: :class:`FaultInjectingStorage` forwards every call of the storage SPI and of its optional
capabilities, one short method each; cutting that table in two would only scatter it.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from edda.exceptions import StorageConflictError, StorageUnavailableError
from edda.storage import protocol as spi
from edda.storage.protocol import HistoryBatchReader, Storage, Transaction, WakeAnnouncer, WakeSource
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
from edda.testing._kill import ENV_VAR, KillAfterWrites, from_environment, is_run_write

__all__ = [
    "ENV_VAR",
    "READ_CALLS",
    "WRITE_CALLS",
    "FaultInjectingStorage",
    "FaultKind",
    "FaultRates",
    "FaultStats",
    "KillAfterWrites",
    "from_environment",
    "is_run_write",
]

T = TypeVar("T")

# The storage calls that write (a fault of any kind may hit them) and those that only read (lost connections and
# timeouts only). "transaction_commit" is the commit of a transaction from begin()/transaction().
WRITE_CALLS = frozenset(
    "create_instance request_cancel reopen_instance commit_step claim_instance claim_runnable claim_runnable_of"
    " renew_leases release_foreign_leases publish receive_or_wait cleanup_messages register_worker"
    " unregister_worker claim_outbox finish_outbox retry_outbox resend_outbox skip_outbox"
    " delete_expired_instances transaction_commit".split()
)
READ_CALLS = frozenset(
    "get_instance get_instances find_instances get_history get_histories next_wake_at next_wake_at_of list_outbox"
    " get_outbox_event find_expired_instances count_expired_instances".split()
)


class FaultKind(StrEnum):
    """The kinds of fault :class:`FaultInjectingStorage` injects."""

    LOST_BEFORE = "lost_before"
    LOST_AFTER = "lost_after"
    CONFLICT = "conflict"
    TIMEOUT = "timeout"
    READ_ONLY = "read_only"


_WRITE_ONLY = frozenset({FaultKind.CONFLICT, FaultKind.READ_ONLY})


@dataclass(frozen=True)
class FaultRates:
    """The probability of each kind of fault per call (0 to 1; together at most 1).

    ``conflict`` and ``read_only`` apply to writes only; a read draws with the other rates.
    """

    lost_before: float = 0.0
    lost_after: float = 0.0
    conflict: float = 0.0
    timeout: float = 0.0
    read_only: float = 0.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
                raise ValueError(f"FaultRates.{f.name} must be a probability between 0 and 1, got {value!r}")
        if self.total > 1.0:
            raise ValueError(f"FaultRates add up to {self.total:g}; their sum must be at most 1 (one fault per call)")

    @classmethod
    def each(cls, rate: float) -> FaultRates:
        """``rate`` for every kind of fault."""
        return cls(rate, rate, rate, rate, rate)

    @property
    def total(self) -> float:
        return self.lost_before + self.lost_after + self.conflict + self.timeout + self.read_only

    def pick(self, draw: float, *, write: bool) -> FaultKind | None:
        """The fault that a uniform ``draw`` in [0, 1) falls on, if any."""
        edge = 0.0
        for kind in FaultKind:
            if kind in _WRITE_ONLY and not write:
                continue
            edge += getattr(self, kind.value)
            if draw < edge:
                return kind
        return None


@dataclass
class FaultStats:
    """What a :class:`FaultInjectingStorage` did: calls per call name, faults per (call name, fault kind)."""

    calls: Counter[str] = field(default_factory=Counter[str])
    faults: Counter[tuple[str, FaultKind]] = field(default_factory=Counter[tuple[str, FaultKind]])

    def by_kind(self) -> dict[FaultKind, int]:
        """Faults injected per kind (every kind listed, zero if none)."""
        counts = dict.fromkeys(FaultKind, 0)
        for (_call, kind), n in self.faults.items():
            counts[kind] += n
        return counts

    def by_call(self) -> dict[str, int]:
        """Faults injected per call name."""
        counts: Counter[str] = Counter()
        for (call, _kind), n in self.faults.items():
            counts[call] += n
        return dict(counts)

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    @property
    def total_faults(self) -> int:
        return sum(self.faults.values())


class FaultInjectingStorage:
    """A :class:`~edda.storage.Storage` that forwards every call to ``storage`` and makes some of them fail.

    Args:
        storage: the storage to wrap (any backend).
        rates: the fault rates of every call without an entry in ``per_call``.
        per_call: fault rates by call name (``commit_step``, ``transaction_commit``, ``get_history``, ... see
            :data:`WRITE_CALLS` and :data:`READ_CALLS`), e.g. ``{"claim_runnable": FaultRates()}`` for none there.
        seed: the seed of the draws.
        timeout_delay: seconds a ``timeout`` fault waits before raising.
        read_only_spell: how many consecutive writes a ``read_only`` fault refuses (itself included).
        max_faults: stop injecting after this many faults (``None``: no limit), e.g. 1 for exactly one fault.

    Attributes:
        enabled: inject faults (calls are counted either way); set it to ``False`` to stop injecting.
        stats: the calls seen and the faults injected (:class:`FaultStats`).

    Raises:
        ValueError: an unknown call name in ``per_call``, or a negative ``timeout_delay`` or ``read_only_spell``.
    """

    def __init__(
        self,
        storage: Storage,
        *,
        rates: FaultRates | None = None,
        per_call: Mapping[str, FaultRates] | None = None,
        seed: int = 0,
        timeout_delay: float = 0.0,
        read_only_spell: int = 1,
        max_faults: int | None = None,
    ) -> None:
        unknown = sorted(set(per_call or {}) - WRITE_CALLS - READ_CALLS)
        if unknown:
            raise ValueError(
                f"per_call names unknown storage calls {unknown}; use names from WRITE_CALLS or READ_CALLS, "
                f"e.g. 'commit_step' or 'transaction_commit'"
            )
        if timeout_delay < 0 or read_only_spell < 1 or (max_faults is not None and max_faults < 0):
            raise ValueError("timeout_delay must be >= 0, read_only_spell >= 1 and max_faults >= 0 (or None)")
        self.inner = storage
        self.rates = rates or FaultRates()
        self.per_call = dict(per_call or {})
        self.seed = seed
        self.timeout_delay = float(timeout_delay)
        self.read_only_spell = read_only_spell
        self.max_faults = max_faults
        self.enabled = True
        self.stats = FaultStats()
        self._read_only_left = 0
        self._name = type(storage).__name__
        self.capabilities: StorageCapabilities = storage.capabilities

    # -- the draw and the errors ------------------------------------------------------------------------------------

    def _draw(self, call: str) -> FaultKind | None:
        n = self.stats.calls[call]
        self.stats.calls[call] += 1
        if not self.enabled or (self.max_faults is not None and self.stats.total_faults >= self.max_faults):
            return None
        write = call in WRITE_CALLS
        if write and self._read_only_left > 0:
            self._read_only_left -= 1
            kind: FaultKind | None = FaultKind.READ_ONLY
        else:
            draw = random.Random(f"{self.seed}/{call}/{n}").random()
            kind = self.per_call.get(call, self.rates).pick(draw, write=write)
            if kind is FaultKind.READ_ONLY:
                self._read_only_left = self.read_only_spell - 1
        if kind is not None:
            self.stats.faults[(call, kind)] += 1
        return kind

    def _error(self, kind: FaultKind, call: str) -> StorageUnavailableError:
        where = f"database behind {self._name}"
        if kind is FaultKind.CONFLICT:
            return StorageConflictError(
                f"The {where} rolled the transaction back to resolve a deadlock or serialization conflict "
                f"(injected fault in {call}); nothing of it was written, and it is retried from history."
            )
        if kind is FaultKind.READ_ONLY:
            return StorageUnavailableError(
                f"Cannot write to the {where} (injected fault in {call}: the database is read-only). The database "
                f"answers but refuses writes; Edda retries with backoff and carries on once writes are accepted again."
            )
        if kind is FaultKind.TIMEOUT:
            return StorageUnavailableError(
                f"Cannot connect to the {where} (TimeoutError: injected fault in {call}: no connection in time)."
            )
        moment = "before the call reached it" if kind is FaultKind.LOST_BEFORE else "after it committed the call"
        return StorageUnavailableError(
            f"Cannot use the {where} (ConnectionResetError: injected fault: the connection was lost {moment}, "
            f"in {call})."
        )

    async def _call(self, call: str, action: Callable[[], Awaitable[T]], tx: Any = None) -> T:
        kind = self._draw(call)
        if kind is None:
            return await action()
        if isinstance(tx, _FaultyTransaction):
            tx.broken = kind  # a real fault inside a transaction loses the whole transaction
        if kind is FaultKind.LOST_AFTER:
            await action()
        elif kind is FaultKind.TIMEOUT and self.timeout_delay:
            await asyncio.sleep(self.timeout_delay)
        raise self._error(kind, call)

    # -- lifecycle and transactions ---------------------------------------------------------------------------------

    async def initialize(self) -> None:
        await self.inner.initialize()
        self.capabilities = self.inner.capabilities  # a backend may refine them on opening (MySQL's payload limit)

    async def close(self) -> None:
        await self.inner.close()

    def begin(self) -> Transaction:
        return _FaultyTransaction(self.inner.begin(), self)

    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        return self._transaction()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Transaction]:
        tx = self.begin()
        try:
            yield tx
        except BaseException:
            await tx.rollback()
            raise
        await tx.commit()

    # -- InstanceStore, HistoryStore, StepStore ---------------------------------------------------------------------

    async def create_instance(self, new: NewInstance) -> tuple[InstanceRecord, bool]:
        return await self._call("create_instance", lambda: self.inner.create_instance(new))

    async def get_instance(self, instance_id: str) -> InstanceRecord | None:
        return await self._call("get_instance", lambda: self.inner.get_instance(instance_id))

    async def find_instances(self, query: InstanceQuery) -> InstancePage:
        return await self._call("find_instances", lambda: self.inner.find_instances(query))

    async def request_cancel(self, instance_id: str, *, now: datetime) -> InstanceRecord | None:
        return await self._call("request_cancel", lambda: self.inner.request_cancel(instance_id, now=now))

    async def reopen_instance(self, instance_id: str, *, now: datetime) -> bool:
        return await self._call("reopen_instance", lambda: self.inner.reopen_instance(instance_id, now=now))

    async def find_expired_instances(self, *, finished_before: datetime, limit: int) -> list[InstanceRecord]:
        return await self._call(
            "find_expired_instances",
            lambda: self.inner.find_expired_instances(finished_before=finished_before, limit=limit),
        )

    async def count_expired_instances(self, *, finished_before: datetime) -> int:
        return await self._call(
            "count_expired_instances", lambda: self.inner.count_expired_instances(finished_before=finished_before)
        )

    async def delete_expired_instances(self, *, finished_before: datetime, limit: int) -> int:
        return await self._call(
            "delete_expired_instances",
            lambda: self.inner.delete_expired_instances(finished_before=finished_before, limit=limit),
        )

    async def get_history(self, instance_id: str, *, iteration: int | None = None) -> list[HistoryEvent]:
        return await self._call("get_history", lambda: self.inner.get_history(instance_id, iteration=iteration))

    async def get_instances(self, instance_ids: Sequence[str]) -> dict[str, InstanceRecord]:
        inner = self.inner
        if isinstance(inner, spi.InstanceBatchReader):
            return await self._call("get_instances", lambda: inner.get_instances(instance_ids))
        found = {iid: await self.get_instance(iid) for iid in dict.fromkeys(instance_ids)}
        return {iid: record for iid, record in found.items() if record is not None}

    async def get_histories(self, instance_ids: Sequence[str]) -> dict[str, list[HistoryEvent]]:
        inner = self.inner
        if isinstance(inner, HistoryBatchReader):
            return await self._call("get_histories", lambda: inner.get_histories(instance_ids))

        async def one_by_one() -> dict[str, list[HistoryEvent]]:
            return {iid: await inner.get_history(iid) for iid in dict.fromkeys(instance_ids)}

        return await self._call("get_histories", one_by_one)

    async def commit_step(self, commit: StepCommit, *, tx: Transaction | None = None) -> StepOutcome:
        inner_tx = tx.inner if isinstance(tx, _FaultyTransaction) else tx
        return await self._call("commit_step", lambda: self.inner.commit_step(commit, tx=inner_tx), tx)

    # -- LeaseStore, WorkerRegistry ---------------------------------------------------------------------------------

    async def claim_instance(
        self, instance_id: str, *, worker_id: str, now: datetime, lease_expires_at: datetime
    ) -> InstanceRecord | None:
        return await self._call(
            "claim_instance",
            lambda: self.inner.claim_instance(
                instance_id, worker_id=worker_id, now=now, lease_expires_at=lease_expires_at
            ),
        )

    async def claim_runnable(
        self, *, worker_id: str, now: datetime, lease_expires_at: datetime, limit: int
    ) -> list[InstanceRecord]:
        return await self._call(
            "claim_runnable",
            lambda: self.inner.claim_runnable(
                worker_id=worker_id, now=now, lease_expires_at=lease_expires_at, limit=limit
            ),
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
        """The wrapped storage's ``claim_runnable_of``; one without it claims as ``claim_runnable`` does (what the
        engine cannot run, it releases)."""
        inner = self.inner
        if isinstance(inner, spi.ClaimsByWorkflow):
            return await self._call(
                "claim_runnable_of",
                lambda: inner.claim_runnable_of(
                    workflow_names, worker_id=worker_id, now=now, lease_expires_at=lease_expires_at, limit=limit
                ),
            )
        return await self.claim_runnable(worker_id=worker_id, now=now, lease_expires_at=lease_expires_at, limit=limit)

    async def renew_leases(self, fences: list[Fence], *, lease_expires_at: datetime) -> set[str]:
        return await self._call(
            "renew_leases", lambda: self.inner.renew_leases(fences, lease_expires_at=lease_expires_at)
        )

    async def release_foreign_leases(self, *, worker_id: str) -> int:
        return await self._call(
            "release_foreign_leases", lambda: self.inner.release_foreign_leases(worker_id=worker_id)
        )

    async def register_worker(self, worker_id: str) -> None:
        await self._call("register_worker", lambda: self.inner.register_worker(worker_id))

    async def unregister_worker(self, worker_id: str) -> None:
        await self._call("unregister_worker", lambda: self.inner.unregister_worker(worker_id))

    async def next_wake_at(self) -> datetime | None:
        return await self._call("next_wake_at", self.inner.next_wake_at)

    async def next_wake_at_of(self, workflow_names: Collection[str]) -> datetime | None:
        inner = self.inner
        if isinstance(inner, spi.ClaimsByWorkflow):
            return await self._call("next_wake_at_of", lambda: inner.next_wake_at_of(workflow_names))
        return await self.next_wake_at()

    # -- ChannelStore -----------------------------------------------------------------------------------------------

    async def publish(self, message: NewMessage, *, now: datetime) -> tuple[ChannelMessageRecord, tuple[str, ...]]:
        return await self._call("publish", lambda: self.inner.publish(message, now=now))

    async def receive_or_wait(
        self, commit: StepCommit, *, channel: str, step_id: str, wait: InstanceUpdate | None
    ) -> ChannelMessageRecord | None:
        return await self._call(
            "receive_or_wait",
            lambda: self.inner.receive_or_wait(commit, channel=channel, step_id=step_id, wait=wait),
        )

    async def cleanup_messages(self, *, older_than: datetime) -> int:
        return await self._call("cleanup_messages", lambda: self.inner.cleanup_messages(older_than=older_than))

    # -- OutboxStore ------------------------------------------------------------------------------------------------

    async def list_outbox(self, *, status: str | None = None, limit: int = 100) -> list[OutboxEvent]:
        return await self._call("list_outbox", lambda: self.inner.list_outbox(status=status, limit=limit))

    async def get_outbox_event(self, event_id: str) -> OutboxEvent | None:
        return await self._call("get_outbox_event", lambda: self.inner.get_outbox_event(event_id))

    async def claim_outbox(
        self, *, worker_id: str, now: datetime, claim_expires_at: datetime, limit: int
    ) -> list[OutboxEvent]:
        return await self._call(
            "claim_outbox",
            lambda: self.inner.claim_outbox(
                worker_id=worker_id, now=now, claim_expires_at=claim_expires_at, limit=limit
            ),
        )

    async def finish_outbox(
        self, event_id: str, *, worker_id: str, status: str, now: datetime, error: str | None = None
    ) -> bool:
        return await self._call(
            "finish_outbox",
            lambda: self.inner.finish_outbox(event_id, worker_id=worker_id, status=status, now=now, error=error),
        )

    async def retry_outbox(self, event_id: str, *, worker_id: str, error: str, next_attempt_at: datetime) -> bool:
        return await self._call(
            "retry_outbox",
            lambda: self.inner.retry_outbox(
                event_id, worker_id=worker_id, error=error, next_attempt_at=next_attempt_at
            ),
        )

    async def resend_outbox(self, event_id: str, *, now: datetime) -> bool:
        return await self._call("resend_outbox", lambda: self.inner.resend_outbox(event_id, now=now))

    async def skip_outbox(self, event_id: str, *, now: datetime) -> bool:
        return await self._call("skip_outbox", lambda: self.inner.skip_outbox(event_id, now=now))

    # -- optional capabilities, passed on (a no-op where the wrapped storage has none) ------------------------------

    def set_wake_callback(self, callback: Callable[[tuple[str, ...]], None]) -> None:
        if isinstance(self.inner, WakeSource):
            self.inner.set_wake_callback(callback)

    def announce_wake(self, instance_ids: tuple[str, ...]) -> None:
        if isinstance(self.inner, WakeAnnouncer):
            self.inner.announce_wake(instance_ids)


class _FaultyTransaction:
    """A transaction of :class:`FaultInjectingStorage`: its commit may fail; a fault inside it breaks it."""

    def __init__(self, inner: Transaction, owner: FaultInjectingStorage) -> None:
        self.inner = inner
        self.owner = owner
        self.broken: FaultKind | None = None

    @property
    def session(self) -> Any:
        return self.inner.session

    def savepoint(self) -> AbstractAsyncContextManager[None]:
        return self.inner.savepoint()

    async def commit(self) -> None:
        if self.broken is not None:  # the connection (and the transaction) was lost earlier: nothing is written
            await self.inner.rollback()
            raise self.owner._error(self.broken, "transaction_commit")

        kind = self.owner._draw("transaction_commit")
        if kind is FaultKind.LOST_AFTER:
            await self.inner.commit()  # committed; the reply is lost
        elif kind is not None:
            await self.inner.rollback()  # lost, conflicted, timed out or refused: nothing is written
        else:
            await self.inner.commit()
            return
        raise self.owner._error(kind, "transaction_commit")

    async def rollback(self) -> None:
        await self.inner.rollback()
