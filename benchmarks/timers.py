"""W4: durable timers (child side, stdlib only).

``job.workflows`` ``sleeper`` workflows are started together (one ``asyncio.gather`` of the starts, like W2).
Each takes ``t0`` in a step, sleeps :data:`~benchmarks.spec.TIMER_SECONDS` durably and returns the time right
after the sleep returned; lateness = that time - (``t0`` + the sleep). ``t0`` is a recorded step, so replays keep
it; it is taken just before the sleep is registered, so lateness includes registering the timer.

The plain variant waits for the results through the system's completion callback (Edda's ``on_workflow_complete``
hook), which costs the system nothing. Variant ``user view`` waits the way users do, one result call per workflow
(Edda: ``app.wait_for_result``, DBOS: ``handle.get_result()``, edda-framework: reading the instance), all 500
at once: whatever those calls cost the system shows in the lateness.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from benchmarks.eventsys import MAIN, check_value
from benchmarks.harness import BenchError
from benchmarks.scalesys import ScaleSystem
from benchmarks.spec import TIMER_SECONDS, W4_USER, Job
from benchmarks.stats import percentile

RESULT_LIMIT_S = 60.0  # after the last start, for every sleeper to finish


class TimerBench:
    def __init__(self, system: ScaleSystem, job: Job) -> None:
        self.system = system
        self.job = job
        self.failed = 0
        self.first_error = ""

    async def setup(self) -> dict[str, Any]:
        await self.system.setup(self.job, MAIN)
        return {"system": self.system.name, "version": self.system.version}

    async def warmup(self) -> None:
        # One sleeper alone first: edda-framework fails concurrent first starts of a workflow (see the README).
        first = await self.system.start("sleeper", 100_000)
        rest = await asyncio.gather(*(self.system.start("sleeper", 100_000 + i) for i in range(1, self.job.warmup)))
        wids = [first, *rest]
        done = await self.system.results(wids, 30.0)
        if len(done) != len(wids):
            raise BenchError(f"warm-up: {len(wids) - len(done)} sleeper(s) unfinished after 30 s")

    def _failure(self, k: int, exc: BaseException) -> None:
        self.failed += 1
        self.first_error = self.first_error or f"sleeper {k}: {type(exc).__name__}: {exc}"[:500]

    async def measure(self) -> dict[str, Any]:
        count = self.job.workflows
        started = time.monotonic()
        handles = await asyncio.gather(*(self.system.start("sleeper", k) for k in range(count)), return_exceptions=True)
        start_phase = time.monotonic() - started
        wids: dict[str, int] = {}
        for k, handle in enumerate(handles):
            if isinstance(handle, BaseException):
                self._failure(k, handle)
            else:
                wids[handle] = k
        done = await self._results(list(wids), RESULT_LIMIT_S + TIMER_SECONDS)
        lateness: list[float] = []
        for wid, k in wids.items():
            try:
                if wid not in done:
                    raise TimeoutError(f"not finished {RESULT_LIMIT_S:.0f} s after the starts")
                value = check_value(k, done[wid], ("t0", "t"))
                lateness.append(float(value["t"]) - (float(value["t0"]) + TIMER_SECONDS))
            except Exception as exc:
                self._failure(k, exc)
        if not lateness:
            raise BenchError(f"no sleeper finished; first error: {self.first_error}")
        return {
            "workflows": count,
            "completed": len(lateness),
            "start_phase_s": start_phase,
            "wall_s": time.monotonic() - started,
            "p50_ms": percentile(lateness, 50) * 1e3,
            "p99_ms": percentile(lateness, 99) * 1e3,
            "max_ms": max(lateness) * 1e3,
            "min_ms": min(lateness) * 1e3,
            "failed": self.failed,
            "first_error": self.first_error,
        }

    async def _results(self, wids: list[str], wait_s: float) -> dict[str, Any]:
        if self.job.variant != W4_USER:
            return await self.system.results(wids, wait_s)
        values = await asyncio.gather(*(self.system.user_result(wid, wait_s) for wid in wids), return_exceptions=True)
        return {wid: value for wid, value in zip(wids, values, strict=True) if not isinstance(value, TimeoutError)}

    async def teardown(self) -> None:
        await self.system.teardown()
