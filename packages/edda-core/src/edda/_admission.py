"""How many runs of a worker execute engine work at once; the rest wait their turn, first come first served.

A burst of starts (500 ``start()`` calls in one ``asyncio.gather``) or of wake-ups (500 timers due together) used to
begin every run at once: every activity body ran, then every result waited for one large commit, then every run
went on. Each run's own steps were spread over the whole burst: an activity's result was durable, and the workflow's
next step taken, only when the last of the 500 had been processed. Admitting a bounded number of runs at a time
(``ACTIVE_RUNS``) keeps the same throughput (the commits still group, a wave at a time) while each run goes from one
step to the next in the time of its wave, not of the burst.

A run holds its slot while it executes engine work: replaying, committing, waiting for its commit. While it waits
for user code that may take long (an activity's body, the backoff between attempts), it lends the slot once that has
taken ``LEND_AFTER_SECONDS`` while another run waits (a body that returns at once keeps it: lending it would admit
the whole burst again) and takes it back, ahead of every waiting run, when the body returns. So a thousand runs in
slow activity bodies (HTTP calls, LLM requests) never keep other runs from starting, and a run never waits for a slot
halfway through.
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
    """Slots for ``limit`` runs at a time; :meth:`enter` waits (FIFO) while all are taken.

    Lending costs nothing while no run waits: a paused slot is only noted with the time it paused; the first run that
    has to wait lends every slot paused for ``LEND_AFTER_SECONDS`` and sets one timer for the next (no timer per
    activity body on the hot path).
    """

    def __init__(self, limit: int = ACTIVE_RUNS) -> None:
        if limit < 1:
            raise ValueError(f"an admission limit must be at least 1, got {limit}")
        self.limit = limit
        self.active = 0  # slots held (lent slots not counted; a run taking its slot back may exceed the limit)
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._paused: dict[Slot, float] = {}  # slots whose run waits for user code, and since when (loop time)
        self._sweep: asyncio.TimerHandle | None = None

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
        self._lend_idle()
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

    def _paused_now(self, slot: Slot) -> None:
        self._paused[slot] = asyncio.get_running_loop().time()
        if self._waiting:
            self._lend_idle()

    def _lend_idle(self) -> None:
        """Lend the slots paused for ``LEND_AFTER_SECONDS``; while runs wait, look again when the next one is due."""
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        for slot, since in list(self._paused.items()):
            if now - since >= LEND_AFTER_SECONDS:
                del self._paused[slot]
                slot.lend()
        if self._waiting and self._paused:
            due = min(self._paused.values()) + LEND_AFTER_SECONDS
            self._sweep = loop.call_at(due, self._lend_idle)


class Slot:
    """One run's slot. :meth:`close` gives it back for good (idempotent)."""

    __slots__ = ("_admission", "_closed", "_depth", "_lent")

    def __init__(self, admission: Admission) -> None:
        self._admission = admission
        self._depth = 0  # user-code sections in progress (concurrent activities of one run)
        self._lent = False
        self._closed = False

    def pause(self) -> None:
        """The run waits for user code: the slot is lent if that takes over ``LEND_AFTER_SECONDS`` while runs wait."""
        self._depth += 1
        if self._depth == 1 and not self._closed:
            self._admission._paused_now(self)

    def lend(self) -> None:
        if self._depth > 0 and not self._lent and not self._closed:
            self._lent = True
            self._admission._release()

    def unpause(self) -> None:
        """User code returned: take the slot back (ahead of waiting runs) if it was lent."""
        self._depth -= 1
        if self._depth > 0 or self._closed:
            return
        self._admission._paused.pop(self, None)
        if self._lent:
            self._lent = False
            self._admission.active += 1

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._admission._paused.pop(self, None)
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
