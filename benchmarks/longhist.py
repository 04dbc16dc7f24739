"""W7: one workflow with a long history (child side, stdlib only).

1. In the measured process: ``longrun(0, N)`` (N sequential activities, see :mod:`benchmarks.scalesys`) runs to
   completion. Reported: the total time and the time per step (total / N); the time per step over the first and the
   last tenth of the steps (each step's start minus the previous step's start, so a step's commit is in it);
   RSS idle and RSS inside the last step (after a full garbage collection, the whole history in memory).
2. The measured process closes its system (SQLite allows one process per file). A *victim* worker runs another
   ``longrun(1, N)`` up to its last step, which reports and holds; :data:`SETTLE_S` later it is SIGKILLed. A
   *restarted* worker then recovers the workflow: ``resume_s`` = the workflow's own timestamp after its last step -
   the moment the restarted worker began to set up (so its interpreter start and imports are left out, its
   storage setup, claim, history read and replay of N - 1 steps are in); ``kill_to_done_s`` counts from the kill.
   Its RSS and peak RSS after the completion are reported too. Over :data:`RESUME_LIMIT_S` the resume is reported
   missing (``resume_timeout``) and the run keeps its step figures.

Variant ``recur every M`` (Edda): the workflow calls ``ctx.recur`` every M steps, so no history holds more than M
steps (see the README for what that buys).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from benchmarks.eventsys import MAIN, RESTART, VICTIM
from benchmarks.harness import BenchError
from benchmarks.helpers import Helper, HelperFailed
from benchmarks.scalesys import LOG, ScaleSystem, rss_kib
from benchmarks.spec import Job

SETTLE_S = 0.3
RESUME_LIMIT_S = 30.0
READY_LIMIT_S = 120.0
WARMUP_STEPS = 20


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


class LongHistoryBench:
    def __init__(self, system: ScaleSystem, job: Job) -> None:
        self.system = system
        self.job = job
        self.steps = max(2, int(job.extra.get("steps", "100")))
        self.every = int(job.extra.get("recur", "0"))
        self.up = False

    def _args(self, k: int, steps: int) -> dict[str, Any]:
        args: dict[str, Any] = {"k": k, "n": steps}
        if self.every:
            args["every"] = self.every
        return args

    async def setup(self) -> dict[str, Any]:
        await self.system.setup(self.job, MAIN)
        self.up = True
        return {"system": self.system.name, "version": self.system.version}

    async def warmup(self) -> None:
        steps = min(WARMUP_STEPS, self.steps)
        wid = await self.system.launch("longrun", {"k": 100_000, "n": steps})
        value = (await self.system.results([wid], 60.0)).get(wid)
        self._check(100_000, steps, value)

    def _check(self, k: int, steps: int, value: Any) -> dict[str, Any]:
        if isinstance(value, BaseException):
            raise value
        if not isinstance(value, dict) or value.get("k") != k or value.get("last") != steps:
            raise BenchError(f"longrun {k} returned {str(value)[:200]!r}, expected last={steps}")
        return value

    async def measure(self) -> dict[str, Any]:
        metrics = await self._run_once()
        await self.system.teardown()
        self.up = False
        metrics.update(await self._crash_and_resume())
        return metrics

    async def _run_once(self) -> dict[str, Any]:
        idle = rss_kib() or 0
        LOG.reset()
        started = time.monotonic()
        wid = await self.system.launch("longrun", self._args(0, self.steps))
        value = (await self.system.results([wid], self.job.deadline_s)).get(wid)
        total = time.monotonic() - started
        if value is None:
            raise TimeoutError(f"longrun of {self.steps} steps not finished within {self.job.deadline_s:.0f} s")
        self._check(0, self.steps, value)
        gaps = [b - a for a, b in zip(LOG.marks, LOG.marks[1:], strict=False)]
        tenth = max(1, len(gaps) // 10)
        first, last = _mean(gaps[:tenth]), _mean(gaps[-tenth:])
        end = LOG.rss_last_kib or 0
        return {
            "workflows": 1,
            "completed": 1,
            "steps": self.steps,
            "total_s": total,
            "step_ms": total / self.steps * 1e3,
            "first_ms": first * 1e3,
            "last_ms": last * 1e3,
            "end_over_start": last / first if first else None,
            "rss_idle_mib": idle / 1024,
            "rss_end_mib": end / 1024,
            "rss_delta_mib": (end - idle) / 1024,
            "failed": 0,
        }

    async def _crash_and_resume(self) -> dict[str, Any]:
        victim = await Helper.spawn(VICTIM)
        survivor: Helper | None = None
        try:
            await victim.expect("ready", READY_LIMIT_S)
            victim.send("launch", kind="longrun", args=self._args(1, self.steps))
            inside = await victim.expect("inside", max(60.0, self.job.deadline_s / 2))
            wid = str(inside["wid"])
            await asyncio.sleep(SETTLE_S)
            killed = time.monotonic()
            await victim.kill()
            survivor = await Helper.spawn(RESTART)
            survivor.send("await", wids=[wid], limit_s=RESUME_LIMIT_S)
            ready = await survivor.expect("ready", READY_LIMIT_S)
            reply = await survivor.expect("results", RESUME_LIMIT_S + 30.0)
        finally:
            for helper in (survivor, victim):
                if helper is not None:
                    with contextlib.suppress(HelperFailed, TimeoutError):
                        await helper.stop()
        value = reply["values"].get(wid)
        if not isinstance(value, dict) or not isinstance(value.get("t"), int | float):
            if isinstance(value, dict) and value.get("error"):
                raise BenchError(f"the resumed workflow failed: {value['error']}")
            return {"resume_timeout": True}
        self._check(1, self.steps, value)
        return {
            "resume_timeout": False,
            "resume_s": float(value["t"]) - float(ready["t_setup"]),
            "kill_to_done_s": float(value["t"]) - killed,
            "resume_rss_mib": (reply.get("rss_kib") or 0) / 1024,
            "resume_peak_mib": (reply.get("hwm_kib") or 0) / 1024,
        }

    async def teardown(self) -> None:
        if self.up:
            self.up = False
            await self.system.teardown()
