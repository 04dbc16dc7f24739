"""W8: many workflows parked at once (child side, stdlib only).

1. Idle RSS (after setup and warm-up, after a full garbage collection) and a probe of the database's size.
2. Park ``instances`` workflows, :data:`~benchmarks.spec.CONCURRENCY` starts in flight: every tenth
   (:data:`~benchmarks.spec.W8_TIMER_SHARE`) a ``napper`` (a 1-hour durable sleep), the rest ``waiter``\\ s (an
   event). The bench keeps no ids (its own memory would blur the figure): it counts the runs that ended suspended
   (:meth:`~benchmarks.scalesys.ScaleSystem.counts`), up to :data:`PARK_LIMIT_S` (``park_timeout``) or until none
   parked for :data:`PARK_STALL_S` (``park_stalled``). Then RSS again, and the database's size: bytes per parked
   instance = the growth / parked.
3. Timers among them: :data:`~benchmarks.spec.W8_PROBE_TIMERS` ``sleeper``\\ s (W4's 1 s sleep) started together;
   their lateness p50/p99.
4. Drain: one broadcast event (W6's) wakes every waiter; drain rate = waiters ÷ time from the delivery call to the
   last completion (bounded by :data:`DRAIN_LIMIT_S`: ``drain_timeout``). The peak RSS of the process (``VmHWM``) is
   reported after the drain.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from benchmarks.eventsys import MAIN, bounded, check_value
from benchmarks.harness import BenchError
from benchmarks.probes import probe, vm_kib
from benchmarks.scalesys import ScaleSystem, rss_kib, wait_count
from benchmarks.spec import CONCURRENCY, TIMER_SECONDS, W8_PROBE_TIMERS, W8_TIMER_SHARE, Job
from benchmarks.stats import percentile

PARK_LIMIT_S = 1800.0
PARK_STALL_S = 60.0
DRAIN_LIMIT_S = 900.0
DRAIN_STALL_S = 120.0
TIMER_LIMIT_S = 120.0
CHUNK = 5000  # starts prepared at once (the coroutines of 100,000 starts would blur the memory figure)
WARMUP_LIMIT_S = 60.0


class ParkScaleBench:
    def __init__(self, system: ScaleSystem, job: Job) -> None:
        self.system = system
        self.job = job
        self.instances = max(2, int(job.extra.get("instances", "100000")))
        self.failed = 0
        self.first_error = ""

    async def setup(self) -> dict[str, Any]:
        await self.system.setup(self.job, MAIN)
        return {"system": self.system.name, "version": self.system.version}

    async def warmup(self) -> None:
        for k in range(100_000, 100_003):
            wid = await self.system.start("waiter", k)
            deadline = time.monotonic() + WARMUP_LIMIT_S
            while not await self.system.is_parked(wid):
                if time.monotonic() > deadline:
                    raise BenchError(f"warm-up waiter {k} not parked within {WARMUP_LIMIT_S:.0f} s")
                await asyncio.sleep(0.01)
            completed = self.system.counts()[1]
            await self.system.deliver(wid, k)  # waiters' results are only counted in W8 (see counts())
            _, problem = await wait_count(
                lambda c=completed: self.system.counts()[1] - c, 1, WARMUP_LIMIT_S, 30.0, 0.01
            )
            if problem:
                raise BenchError(f"warm-up waiter {k} did not complete within {WARMUP_LIMIT_S:.0f} s")
        # A first napper and sleeper alone (edda-framework fails concurrent first starts of a workflow); the napper
        # stays parked, outside the counts taken when the measurement begins.
        await self.system.launch("napper", {"k": 100_010})
        sleeper = await self.system.start("sleeper", 100_011)
        check_value(100_011, (await self.system.results([sleeper], WARMUP_LIMIT_S)).get(sleeper), ("t0", "t"))

    def _failure(self, what: str, exc: BaseException) -> None:
        self.failed += 1
        self.first_error = self.first_error or f"{what}: {type(exc).__name__}: {exc}"[:500]

    def _starter(self, k: int, every: int) -> Callable[[], Awaitable[str]]:
        if k % every == 0:
            return partial(self.system.launch, "napper", {"k": k})
        return partial(self.system.start, "waiter", k)

    async def _start_all(self, every: int) -> None:
        for first in range(0, self.instances, CHUNK):
            jobs = [self._starter(k, every) for k in range(first, min(self.instances, first + CHUNK))]
            for index, outcome in enumerate(await bounded(jobs, CONCURRENCY)):
                if isinstance(outcome, BaseException):
                    self._failure(f"start {first + index}", outcome)

    async def _timers(self) -> dict[str, Any]:
        starts = [partial(self.system.start, "sleeper", k) for k in range(W8_PROBE_TIMERS)]
        handles = await asyncio.gather(*(job() for job in starts), return_exceptions=True)
        wids = {str(h): k for k, h in enumerate(handles) if not isinstance(h, BaseException)}
        done = await self.system.results(list(wids), TIMER_LIMIT_S)
        late = []
        for wid, k in wids.items():
            try:
                value = check_value(k, done.get(wid, TimeoutError("sleeper not finished")), ("t0", "t"))
                late.append(float(value["t"]) - float(value["t0"]) - TIMER_SECONDS)
            except Exception as exc:
                self._failure(f"sleeper {k}", exc)
        if not late:
            return {}
        return {"timer_p50_ms": percentile(late, 50) * 1e3, "timer_p99_ms": percentile(late, 99) * 1e3}

    async def measure(self) -> dict[str, Any]:
        every = max(1, round(1 / W8_TIMER_SHARE))
        nappers = len(range(0, self.instances, every))
        waiters = self.instances - nappers
        suspended0, _ = self.system.counts()
        idle = rss_kib() or 0
        await probe("idle")
        started = time.monotonic()
        await self._start_all(every)
        start_s = time.monotonic() - started
        expected = self.instances - self.failed
        limit = max(1.0, PARK_LIMIT_S - start_s)
        parked, problem = await wait_count(lambda: self.system.counts()[0] - suspended0, expected, limit, PARK_STALL_S)
        park_s = time.monotonic() - started
        resident = rss_kib() or 0
        sized = await probe("parked")
        growth = sized.get("delta", {}).get("db_bytes")
        metrics: dict[str, Any] = {
            "workflows": self.instances,
            "waiters": waiters,
            "nappers": nappers,
            "parked": parked,
            "start_s": start_s,
            "park_s": park_s,
            "park_rate": parked / park_s if park_s else None,
            "park_timeout": problem == "timeout",
            "park_stalled": problem == "stalled",
            "rss_idle_mib": idle / 1024,
            "rss_parked_mib": resident / 1024,
            "rss_delta_mib": (resident - idle) / 1024,
            "db_bytes_per_instance": growth / parked if isinstance(growth, int | float) and parked else None,
        }
        metrics.update(await self._timers())
        metrics.update(await self._drain(waiters))
        metrics.update({"failed": self.failed, "first_error": self.first_error})
        return metrics

    async def _drain(self, waiters: int) -> dict[str, Any]:
        _, completed0 = self.system.counts()
        started = time.monotonic()
        delivered: list[float] = []
        delivery = asyncio.ensure_future(self.system.broadcast([]))
        delivery.add_done_callback(lambda _: delivered.append(time.monotonic() - started))
        drained, problem = await wait_count(
            lambda: self.system.counts()[1] - completed0, waiters, DRAIN_LIMIT_S, DRAIN_STALL_S, poll_s=0.05
        )
        drain_s = time.monotonic() - started
        if not delivery.done():
            delivery.cancel()
        outcome = (await asyncio.gather(delivery, return_exceptions=True))[0]
        if isinstance(outcome, BaseException) and not isinstance(outcome, asyncio.CancelledError):
            self._failure("broadcast", outcome)
        peak = vm_kib("VmHWM") or 0
        return {
            "completed": drained,
            "drain_s": drain_s,
            "delivery_s": delivered[0] if delivered else None,
            "drain_timeout": problem != "",
            "throughput": drained / drain_s if drain_s > 0 else 0.0,
            "rss_peak_mib": peak / 1024,
        }

    async def teardown(self) -> None:
        await self.system.teardown()
