"""Fault injection for crash tests: kill the process right after the k-th storage write.

``KillAfterWrites(storage, k)`` forwards everything to ``storage`` and counts the writes the engine makes
(``create_instance``, ``commit_step``, ``receive_or_wait``, ``publish``, ``claim_*``, ``renew_leases``, outbox
updates). Right after the k-th write has returned — so it is durable — the process sends itself SIGKILL: no
``finally`` block, no flush, no goodbye, exactly like a crash. Crash tests run a worker process with it for every
k and restart a fresh process on the same database.

It is opt-in only: :func:`from_environment` wraps a storage when ``EDDA_FAULT_KILL_AFTER_WRITES`` is set, and only
test programs call it.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Awaitable, Callable
from typing import Any, cast

__all__ = ["ENV_VAR", "KillAfterWrites", "from_environment"]

ENV_VAR = "EDDA_FAULT_KILL_AFTER_WRITES"
_WRITES = frozenset(
    {
        "create_instance",
        "commit_step",
        "receive_or_wait",
        "publish",
        "claim_instance",
        "claim_runnable",
        "request_cancel",
        "renew_leases",
        "release_foreign_leases",
        "claim_outbox",
        "finish_outbox",
        "retry_outbox",
    }
)


class KillAfterWrites:
    """A storage proxy that SIGKILLs its own process after the ``kill_after``-th write (1-based)."""

    def __init__(self, storage: Any, kill_after: int, *, count_file: str | None = None) -> None:
        if kill_after < 1:
            raise ValueError("kill_after is 1-based")
        self._storage = storage
        self._kill_after = kill_after
        self._count_file = count_file
        self.writes = 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._storage, name)
        if name not in _WRITES or not callable(attr):
            return attr

        method = cast("Callable[..., Awaitable[Any]]", attr)

        async def counted(*args: Any, **kwargs: Any) -> Any:
            tx = kwargs.get("tx")
            if isinstance(tx, _CountingTransaction):
                kwargs["tx"] = tx._tx
            result = await method(*args, **kwargs)
            if name == "commit_step" and tx is not None:
                return result  # counted when that transaction commits
            self._count(name)
            return result

        return counted

    def begin(self) -> Any:
        return _CountingTransaction(self._storage.begin(), self)

    def transaction(self) -> Any:
        return self._storage.transaction()

    def _count(self, what: str) -> None:
        self.writes += 1
        if self._count_file:
            with open(self._count_file, "a") as fh:
                fh.write(f"{self.writes} {what}\n")
        if self.writes == self._kill_after:
            os.kill(os.getpid(), signal.SIGKILL)


class _CountingTransaction:
    def __init__(self, tx: Any, owner: KillAfterWrites) -> None:
        self._tx = tx
        self._owner = owner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tx, name)

    @property
    def session(self) -> Any:
        return self._tx.session

    def savepoint(self) -> Any:
        return self._tx.savepoint()

    async def commit(self) -> None:
        await self._tx.commit()
        self._owner._count("transaction commit")

    async def rollback(self) -> None:
        await self._tx.rollback()


def from_environment(storage: Any) -> Any:
    """``storage`` wrapped in :class:`KillAfterWrites` if ``EDDA_FAULT_KILL_AFTER_WRITES`` is set, else as is."""
    value = os.environ.get(ENV_VAR)
    if not value:
        return storage
    return KillAfterWrites(storage, int(value), count_file=os.environ.get("EDDA_FAULT_COUNT_FILE"))
