"""How many runs of a worker execute engine work at once; the rest wait their turn, first come first served.

A burst of starts (500 ``start()`` calls in one ``asyncio.gather``) or of wake-ups (500 timers due together) used to
begin every run at once: every activity body ran, then every result waited for one large commit, then every run
went on. Each run's own steps were spread over the whole burst: an activity's result was durable, and the workflow's
next step taken, only when the last of the 500 had been processed. Admitting a bounded number of runs at a time
(``ACTIVE_RUNS``) keeps the same throughput (the commits still group, a wave at a time) while each run goes from one
step to the next in the time of its wave, not of the burst.

A run holds its slot while it executes engine work: replaying, committing, waiting for its commit. While it waits
for user code that may take long (an activity's body, the backoff between attempts), it lends the slot after
``LEND_AFTER_SECONDS`` (a body that returns at once keeps it: lending it would admit the whole burst again) and
takes it back, ahead of every waiting run, when the body returns. So a thousand runs in slow activity bodies (HTTP
calls, LLM requests) never keep other runs from starting, and a run never waits for a slot halfway through.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["ACTIVE_RUNS", "LEND_AFTER_SECONDS", "Admission", "Slot", "current_slot", "lending"]

ACTIVE_RUNS = 64
LEND_AFTER_SECONDS = 0.02


class Admission:
    """Slots for ``limit`` runs at a time; :meth:`enter` waits (FIFO) while all are taken."""

    def __init__(self, limit: int = ACTIVE_RUNS) -> None:
        if limit < 1:
            raise ValueError(f"an admission limit must be at least 1, got {limit}")
        self.limit = limit
        self.active = 0  # slots held (lent slots not counted; a run taking its slot back may exceed the limit)
        self._waiting: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return sum(1 for fut in self._waiting if not fut.done())

    async def enter(self) -> Slot:
        """Take a slot, waiting for one if all are taken (cancellation while waiting takes none)."""
        if self.active < self.limit and not self._waiting:
            self.active += 1
            return Slot(self)
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(fut)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():  # granted, then cancelled before this task ran: give it back
                self._release()
            raise
        return Slot(self)

    def _release(self) -> None:
        self.active -= 1
        self._grant()

    def _grant(self) -> None:
        while self._waiting and self.active < self.limit:
            fut = self._waiting.popleft()
            if not fut.done():
                self.active += 1
                fut.set_result(None)


class Slot:
    """One run's slot. :meth:`close` gives it back for good (idempotent)."""

    __slots__ = ("_admission", "_closed", "_depth", "_handle", "_lent")

    def __init__(self, admission: Admission) -> None:
        self._admission = admission
        self._depth = 0  # user-code sections in progress (concurrent activities of one run)
        self._lent = False
        self._handle: asyncio.TimerHandle | None = None
        self._closed = False

    def pause(self) -> None:
        """The run waits for user code: lend the slot if it is still waiting after ``LEND_AFTER_SECONDS``."""
        self._depth += 1
        if self._depth == 1 and not self._closed:
            self._handle = asyncio.get_running_loop().call_later(LEND_AFTER_SECONDS, self._lend)

    def _lend(self) -> None:
        self._handle = None
        if self._depth > 0 and not self._lent and not self._closed:
            self._lent = True
            self._admission._release()

    def unpause(self) -> None:
        """User code returned: take the slot back (ahead of waiting runs) if it was lent."""
        self._depth -= 1
        if self._depth > 0 or self._closed:
            return
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._lent:
            self._lent = False
            self._admission.active += 1

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if not self._lent:
            self._admission._release()


# The slot of the run executing in this task (and the tasks its workflow code spawns).
current_slot: contextvars.ContextVar[Slot | None] = contextvars.ContextVar("edda_slot", default=None)


@contextmanager
def lending() -> Iterator[None]:
    """Around user code that may take long: the run's slot is lent while it does (see :class:`Slot`)."""
    slot = current_slot.get()
    if slot is None:
        yield
        return
    slot.pause()
    try:
        yield
    finally:
        slot.unpause()
