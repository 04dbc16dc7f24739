"""W5: crash recovery (child side, stdlib only). The measured child only coordinates; it runs no worker itself.

1. A *victim* helper (a worker) starts ``crasher(0)``; its first step completes, its long step reports ``inside``
   and then holds (see :class:`benchmarks.eventsys.CrashProbe`).
2. :data:`SETTLE_S` later the coordinator takes ``t_kill`` and SIGKILLs the victim (its pid only).
3. Another worker completes the workflow; it polls the workflow's status in the database every 10 ms and reports
   the time it first saw ``completed``. Reported: ``recovery_s`` = that time - ``t_kill``.

Variants: ``standby worker`` — the second worker has been running (idle) since before the workflow started;
``restarted worker`` — it is started after the kill (SQLite: only one process may use the file), so
``recovery_s`` includes its interpreter start, imports and initialization (``startup_s`` says how much).
Bounded by :data:`~benchmarks.spec.RECOVERY_LIMIT_S` after the kill; over it the run is a ``timeout``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from benchmarks.eventsys import FINISHED_OK, NOT_FINISHED, RESTART, STANDBY, VICTIM
from benchmarks.harness import BenchError
from benchmarks.helpers import Helper
from benchmarks.spec import RECOVERY_LIMIT_S, W5_RESTART, Job

SETTLE_S = 0.5  # between the victim entering its long step and the kill
READY_LIMIT_S = 120.0
INSIDE_LIMIT_S = 60.0


class CrashBench:
    def __init__(self, job: Job) -> None:
        self.job = job
        self.restart = job.variant == W5_RESTART
        self.victim: Helper | None = None
        self.survivor: Helper | None = None

    async def setup(self) -> dict[str, Any]:
        if not self.restart:  # the standby worker starts first, so it cannot mistake the victim's work for its own
            self.survivor = await Helper.spawn(STANDBY)
            await self.survivor.expect("ready", READY_LIMIT_S)
        self.victim = await Helper.spawn(VICTIM)
        ready = await self.victim.expect("ready", READY_LIMIT_S)
        info: dict[str, Any] = {"system": ready.get("system"), "version": ready.get("version")}
        if self.job.extra:
            info["settings"] = dict(self.job.extra)
        return info

    async def warmup(self) -> None:
        return None

    async def measure(self) -> dict[str, Any]:
        assert self.victim is not None
        self.victim.send("start", k=0)
        inside = await self.victim.expect("inside", INSIDE_LIMIT_S)
        wid = str(inside["wid"])
        await asyncio.sleep(SETTLE_S)
        if self.survivor is not None:  # standby: already polling when the victim dies
            self.survivor.send("watch", wid=wid, limit_s=RECOVERY_LIMIT_S + 1.0)
        killed = time.monotonic()
        await self.victim.kill()
        startup = None
        if self.restart:
            self.survivor = await Helper.spawn(RESTART)
            self.survivor.send("watch", wid=wid, limit_s=RECOVERY_LIMIT_S)  # read as soon as it is ready
            await self.survivor.expect("ready", RECOVERY_LIMIT_S)
            startup = time.monotonic() - self.survivor.started
        assert self.survivor is not None
        remaining = max(0.0, killed + RECOVERY_LIMIT_S - time.monotonic())
        finished = await self.survivor.expect("finished", remaining + 15.0)
        if finished["status"] == NOT_FINISHED:
            raise TimeoutError(f"the workflow was not completed within {RECOVERY_LIMIT_S:.0f} s of the kill")
        if finished["status"] != FINISHED_OK:
            raise BenchError(f"the workflow ended {finished['status']} after the crash")
        recovery = float(finished["t"]) - killed
        metrics: dict[str, Any] = {"workflows": 1, "completed": 1, "recovery_s": recovery, "failed": 0}
        if startup is not None:
            metrics["startup_s"] = startup
        return metrics

    async def teardown(self) -> None:
        for helper in (self.survivor, self.victim):
            if helper is not None:
                await helper.stop()
