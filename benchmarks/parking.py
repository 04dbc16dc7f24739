"""W6: parking thousands of waiting workflows, then draining them (child side, stdlib only).

1. Idle RSS (after setup and warm-up, after a full garbage collection).
2. Start ``job.workflows`` ``waiter`` workflows, :data:`~benchmarks.spec.CONCURRENCY` starts in flight, and wait
   until every one is parked (bounded by :data:`~benchmarks.spec.PARK_LIMIT_S`, or until no more park for
   :data:`PARK_STALL_S`: ``park_stalled``); parked RSS, again after a GC.
3. Drain: deliver the events — ``broadcast``: the fewest calls the system offers (Edda and edda-framework: one
   CloudEvent of the shared type without a target; DBOS, which has no broadcast: one ``send_bulk`` of every
   message); ``targeted``: one event per workflow, :data:`~benchmarks.spec.CONCURRENCY` in flight — and wait until
   all completed, bounded by :data:`~benchmarks.spec.DRAIN_LIMIT_S` from the first delivery. Reported:
   completed / time from the first delivery to the last completion (to the limit when it was hit:
   ``drain_timeout`` is then set and ``completed`` says how many made it).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from functools import partial
from typing import Any

from benchmarks.eventsys import MAIN, EventSystem, bounded, check_value, rss_mib
from benchmarks.harness import BenchError
from benchmarks.spec import CONCURRENCY, DRAIN_LIMIT_S, PARK_LIMIT_S, W6_BROADCAST, Job

PARK_POLL_S = 0.25
PARK_STALL_S = 15.0  # after the starts returned: no newly parked workflow for this long ends the wait
WARMUP_BUDGET_S = 60.0  # a slow warm-up waiter ends the warm-up early (the drain will show the slowness)


class ParkingBench:
    def __init__(self, system: EventSystem, job: Job) -> None:
        self.system = system
        self.job = job
        self.failed = 0
        self.first_error = ""

    async def setup(self) -> dict[str, Any]:
        await self.system.setup(self.job, MAIN)
        return {"system": self.system.name, "version": self.system.version}

    async def warmup(self) -> None:
        stop_at = time.monotonic() + WARMUP_BUDGET_S
        for i in range(self.job.warmup):
            k = 100_000 + i
            wid = await self.system.start("waiter", k)
            while not await self.system.is_parked(wid):
                if time.monotonic() >= stop_at:
                    raise BenchError(f"warm-up waiter {k} not parked within {WARMUP_BUDGET_S:.0f} s")
                await asyncio.sleep(0.005)
            await self.system.deliver(wid, k)
            done = await self.system.results([wid], max(0.0, stop_at - time.monotonic()))
            if wid not in done:
                return
            check_value(k, done[wid])

    def _failure(self, what: str, exc: BaseException) -> None:
        self.failed += 1
        self.first_error = self.first_error or f"{what}: {type(exc).__name__}: {exc}"[:500]

    async def _park(self) -> tuple[dict[str, int], float, str]:
        """Start the waiters; return {id: k}, the time until all were parked, and "" or why the wait ended early
        (``timeout``: the limit; ``stalled``: no progress for :data:`PARK_STALL_S`, e.g. workflows that failed)."""
        started = time.monotonic()
        count = self.job.workflows
        handles = await bounded((partial(self.system.start, "waiter", k) for k in range(count)), CONCURRENCY)
        wids: dict[str, int] = {}
        for k, handle in enumerate(handles):
            if isinstance(handle, BaseException):
                self._failure(f"start of waiter {k}", handle)
            else:
                wids[str(handle)] = k
        deadline = started + PARK_LIMIT_S
        best, progressed = -1, time.monotonic()
        while True:
            parked = await self.system.count_parked(list(wids))
            now = time.monotonic()
            if parked >= len(wids):
                return wids, now - started, ""
            if parked > best:
                best, progressed = parked, now
            if now >= deadline:
                return wids, now - started, "timeout"
            if now - progressed >= PARK_STALL_S:
                return wids, now - started, "stalled"
            await asyncio.sleep(PARK_POLL_S)

    async def measure(self) -> dict[str, Any]:
        idle = rss_mib()
        wids, park_s, park_problem = await self._park()
        parked_count = await self.system.count_parked(list(wids))
        parked = rss_mib()
        if not wids:
            raise BenchError(f"no waiter started; first error: {self.first_error}")
        ids = list(wids)
        started = time.monotonic()
        delivered: list[float] = []
        delivery = asyncio.ensure_future(self._deliver(ids, wids))
        delivery.add_done_callback(lambda _: delivered.append(time.monotonic() - started))
        done = await self.system.results(ids, DRAIN_LIMIT_S)
        drain_s = time.monotonic() - started
        if not delivery.done():
            delivery.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            for outcome in await asyncio.gather(delivery, return_exceptions=True):
                for problem in outcome if isinstance(outcome, list) else [outcome]:
                    if isinstance(problem, BaseException) and not isinstance(problem, asyncio.CancelledError):
                        self._failure("delivery", problem)
        completed = 0
        for wid, k in wids.items():
            if wid in done:
                try:
                    check_value(k, done[wid])
                    completed += 1
                except Exception as exc:
                    self._failure(f"waiter {k}", exc)
        drain_timeout = len(done) < len(wids)
        return {
            "workflows": self.job.workflows,
            "started": len(wids),
            "parked": parked_count,
            "park_s": park_s,
            "park_timeout": park_problem == "timeout",
            "park_stalled": park_problem == "stalled",
            "rss_idle_mib": idle,
            "rss_parked_mib": parked,
            "rss_delta_mib": parked - idle,
            "completed": completed,
            "drain_s": drain_s,
            "delivery_s": delivered[0] if delivered else None,
            "drain_timeout": drain_timeout,
            "throughput": completed / drain_s if drain_s > 0 else 0.0,
            "failed": self.failed,
            "first_error": self.first_error,
        }

    async def _deliver(self, ids: list[str], wids: dict[str, int]) -> list[Any] | None:
        if self.job.variant == W6_BROADCAST:
            await self.system.broadcast(ids)
            return None
        return await bounded((partial(self.system.deliver, wid, wids[wid]) for wid in ids), CONCURRENCY)

    async def teardown(self) -> None:
        await self.system.teardown()
