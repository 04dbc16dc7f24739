"""Crash points for crash tests: kill the process right after the k-th write of a run (see :mod:`edda.testing.faults`).

Split from :mod:`edda.testing.faults`, which re-exports everything here.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Awaitable, Callable
from typing import Any, cast

__all__ = ["ENV_VAR", "KillAfterWrites", "from_environment", "is_run_write"]

ENV_VAR = "EDDA_FAULT_KILL_AFTER_WRITES"

# Calls that change stored state on behalf of a run: each is a commit point of the run. A claim counts only when it
# claimed something. Heartbeats, idle polls and housekeeping (a claim that found nothing, renew_leases, releasing
# leases at startup, message cleanup) are counted apart, as polls: they are not points of the run's progress.
_RUN_WRITES = frozenset(
    {
        "create_instance",
        "commit_step",
        "receive_or_wait",
        "publish",
        "request_cancel",
        "reopen_instance",
        "finish_outbox",
        "retry_outbox",
        "resend_outbox",
        "skip_outbox",
    }
)
_CLAIMS = frozenset({"claim_instance", "claim_runnable", "claim_runnable_of", "claim_outbox"})
_POLLS = frozenset({"renew_leases", "release_foreign_leases", "cleanup_messages"})


def is_run_write(call: str, result: Any) -> bool | None:
    """Whether a call that returned ``result`` is a write of a run (True), a poll (False), or neither (None)."""
    if call in _RUN_WRITES:
        return True
    if call in _CLAIMS:
        return bool(result)
    return False if call in _POLLS else None


class KillAfterWrites:
    """A storage proxy that SIGKILLs its own process right after the ``kill_after``-th write of a run (1-based).

    Writes of a run are the calls that change stored state on its behalf (:func:`is_run_write`); polls (claims that
    found nothing, heartbeats, startup and cleanup) are counted apart in :attr:`polls` and never kill. Right after
    the k-th write has returned, so it is durable, the process sends itself SIGKILL: no ``finally`` block, no flush,
    exactly like a crash. ``count_file`` gets one line per write or poll (``write 3 commit_step``).
    """

    def __init__(self, storage: Any, kill_after: int, *, count_file: str | None = None) -> None:
        if kill_after < 1:
            raise ValueError("kill_after is 1-based")
        self._storage = storage
        self._kill_after = kill_after
        self._count_file = count_file
        self.writes = 0
        self.polls = 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._storage, name)
        if is_run_write(name, True) is None or not callable(attr):
            return attr
        method = cast("Callable[..., Awaitable[Any]]", attr)

        async def counted(*args: Any, **kwargs: Any) -> Any:
            tx = kwargs.get("tx")
            if isinstance(tx, _CountingTransaction):
                kwargs["tx"] = tx.inner
            result = await method(*args, **kwargs)
            if name == "commit_step" and tx is not None:
                return result  # counted when that transaction commits
            self._count(name, is_run_write(name, result))
            return result

        return counted

    def begin(self) -> Any:
        return _CountingTransaction(self._storage.begin(), self)

    def transaction(self) -> Any:
        return self._storage.transaction()

    def _count(self, what: str, write: bool | None) -> None:
        if write:
            self.writes += 1
        else:
            self.polls += 1
        if self._count_file:
            with open(self._count_file, "a") as fh:
                fh.write(f"{'write' if write else 'poll'} {self.writes if write else self.polls} {what}\n")
        if write and self.writes == self._kill_after:
            os.kill(os.getpid(), signal.SIGKILL)


class _CountingTransaction:
    def __init__(self, tx: Any, owner: KillAfterWrites) -> None:
        self.inner = tx
        self._owner = owner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    @property
    def session(self) -> Any:
        return self.inner.session

    def savepoint(self) -> Any:
        return self.inner.savepoint()

    async def commit(self) -> None:
        await self.inner.commit()
        self._owner._count("transaction commit", True)

    async def rollback(self) -> None:
        await self.inner.rollback()


def from_environment(storage: Any) -> Any:
    """``storage`` wrapped in :class:`KillAfterWrites` if ``EDDA_FAULT_KILL_AFTER_WRITES`` is set, else as is.

    ``EDDA_FAULT_COUNT_FILE`` names the file that gets a line per write and poll.
    """
    value = os.environ.get(ENV_VAR)
    if not value:
        return storage
    return KillAfterWrites(storage, int(value), count_file=os.environ.get("EDDA_FAULT_COUNT_FILE"))
