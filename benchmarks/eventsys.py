"""What a system adapter implements for W3-W6, and helpers shared by those workloads (child side, stdlib only).

Every system defines the same three workflows (``k`` is an int the driver chooses; times are ``time.monotonic()``,
which on Linux is one clock for every process of the machine, so timestamps taken in different processes compare):

* ``waiter(k)``: waits for an event of type :data:`benchmarks.spec.EVENT_TYPE` (Edda/edda-framework
  ``wait_event``, DBOS ``recv`` on that topic), then returns ``{"k": k, "t": <time right after the wait returned>}``;
* ``sleeper(k)``: ``t0`` = a step that returns the time, then a durable sleep of :data:`~benchmarks.spec.TIMER_SECONDS`,
  then returns ``{"k": k, "t0": t0, "t": <time right after the sleep returned>}``;
* ``crasher(k)``: a trivial step, then :func:`long_step` (long only in the process that is to be killed), then
  returns ``{"k": k, "t": ...}``.

Workflows are identified by their id (a string) so that ids can cross process boundaries.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

# Roles of a system inside one benchmark process (see benchmarks.helpers for the helper processes).
MAIN = "main"  # the measured process; workflows complete here
MAIN_CROSS = "main-cross"  # the measured process of W3 cross-process: another process may complete them
SENDER = "sender"  # W3 cross-process: delivers events on request
VICTIM = "victim"  # W5: runs the workflow and is SIGKILLed inside its long step
STANDBY = "standby"  # W5: a worker running before the kill
RESTART = "restart"  # W5: a worker started after the kill

FINISHED_OK = "completed"
FINISHED_FAILED = "failed"
NOT_FINISHED = "pending"


class EventSystem(Protocol):
    name: str
    version: str

    async def setup(self, job: Any, role: str) -> None:
        """Connect/migrate/launch for ``role``; register the workflows (``job`` is a :class:`benchmarks.spec.Job`)."""
        ...

    async def start(self, kind: str, k: int) -> str:
        """Start workflow ``kind`` (``waiter``, ``sleeper``, ``crasher``) with input ``k``; return its id."""
        ...

    async def is_parked(self, wid: str) -> bool:
        """Whether ``waiter`` ``wid`` is now waiting for its event (not merely started)."""
        ...

    async def count_parked(self, wids: Sequence[str]) -> int:
        """How many of ``wids`` are waiting for their event."""
        ...

    async def deliver(self, wid: str, k: int) -> None:
        """Send one event to waiter ``wid`` only; return once the system has accepted it."""
        ...

    async def broadcast(self, wids: Sequence[str]) -> None:
        """Wake every waiter in ``wids`` with as few calls as the system allows (one shared event if it can)."""
        ...

    async def results(self, wids: Sequence[str], wait_s: float) -> dict[str, Any]:
        """Wait at most ``wait_s`` for ``wids`` to finish; return ``{id: value or exception}`` for the finished."""
        ...

    async def status(self, wid: str) -> str:
        """``completed``, ``failed`` or ``pending``, read from the database (for a workflow run anywhere)."""
        ...

    async def teardown(self) -> None: ...


class CrashProbe:
    """Makes ``crasher``'s long step long in the victim process only, and tells the coordinator it got there.

    Armed by the W5 victim helper; everywhere else the long step returns at once, so a worker that re-runs it
    after a crash completes quickly (the step models work interrupted by the crash, not work redone).
    """

    def __init__(self) -> None:
        self.hold_s = 0.0
        self.on_enter: Callable[[int, str], None] | None = None

    def arm(self, on_enter: Callable[[int, str], None], hold_s: float = 600.0) -> None:
        self.on_enter = on_enter
        self.hold_s = hold_s


PROBE = CrashProbe()


async def long_step_body(k: int, wid: str) -> int:
    """The body of every system's ``crasher`` long step (``wid``: the id of the workflow running it)."""
    if PROBE.on_enter is not None:
        PROBE.on_enter(k, wid)
        await asyncio.sleep(PROBE.hold_s)
    return k


class Completions:
    """Results of workflows that finished in this process, fed by a system's own completion callback (a hook
    called after the completion is committed), so that waiting for thousands of workflows costs no polling."""

    def __init__(self) -> None:
        self._values: dict[str, Any] = {}
        self._waiters: dict[str, asyncio.Future[None]] = {}

    def finished(self, wid: str, value: Any) -> None:
        self._values[wid] = value
        waiter = self._waiters.pop(wid, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self, wids: Sequence[str], wait_s: float) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        pending: list[asyncio.Future[None]] = []
        for wid in wids:
            if wid not in self._values:
                waiter = self._waiters.get(wid)
                if waiter is None:
                    waiter = self._waiters[wid] = loop.create_future()
                pending.append(waiter)
        if pending:
            await asyncio.wait(pending, timeout=max(0.0, wait_s))
        return {wid: self._values[wid] for wid in wids if wid in self._values}

    def forget(self, wids: Iterable[str]) -> None:
        for wid in wids:
            self._values.pop(wid, None)
            self._waiters.pop(wid, None)


async def poll_results(
    wids: Sequence[str], wait_s: float, read: Callable[[str], Awaitable[tuple[str, Any]]], interval_s: float = 0.005
) -> dict[str, Any]:
    """Poll ``read(id) -> (status, value)`` until every id finished or ``wait_s`` passed (for workflows that may
    finish in another process)."""
    deadline = time.monotonic() + wait_s
    found: dict[str, Any] = {}
    while True:
        for wid in wids:
            if wid not in found:
                status, value = await read(wid)
                if status != NOT_FINISHED:
                    found[wid] = value
        if len(found) == len(wids) or time.monotonic() >= deadline:
            return found
        await asyncio.sleep(interval_s)


async def bounded(jobs: Iterable[Callable[[], Awaitable[Any]]], limit: int) -> list[Any]:
    """Run the ``jobs`` with at most ``limit`` in flight; results (or exceptions) in order."""
    gate = asyncio.Semaphore(limit)

    async def one(job: Callable[[], Awaitable[Any]]) -> Any:
        async with gate:
            return await job()

    return await asyncio.gather(*(one(job) for job in jobs), return_exceptions=True)


def rss_mib() -> float:
    """This process's resident set size (``VmRSS`` of /proc/self/status) in MiB, after a full garbage collection."""
    gc.collect()
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("VmRSS not found in /proc/self/status")


def check_value(k: int, value: Any, keys: tuple[str, ...] = ("t",)) -> dict[str, Any]:
    """The workflow's returned dict, checked: right ``k`` and numeric timestamps."""
    if isinstance(value, BaseException):
        raise value
    if not isinstance(value, dict) or value.get("k") != k:
        raise ValueError(f"workflow {k} returned {value!r}")
    for key in keys:
        if not isinstance(value.get(key), int | float):
            raise ValueError(f"workflow {k} returned no {key!r} timestamp: {value!r}")
    return value
