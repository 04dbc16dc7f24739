"""W9: scale-out, 1, 2 or 4 worker processes on one database server (child side, stdlib only).

The measured process only coordinates. It starts ``processes`` worker helpers (see :mod:`benchmarks.helpers`),
each with its own system instance on the same database, and hands each an equal share of ``job.workflows``
``tripler`` workflows (W2's three activities) as one ``batch``: every worker starts its share together and awaits
the results, like a W2 run per process. Throughput = completed ÷ (last result anywhere - first start anywhere).

Ownership: every activity execution is counted per instance in the process that ran it. An instance with
activities run by two processes (``cross_process``), or with more executions than its three activities
(``duplicates``), means a worker ran an instance another worker held; both must stay 0.

Where the time goes: probes (see :mod:`benchmarks.probing`) around the batch give the durable commits of this
database on PostgreSQL (``commits_per_s``, to set beside FLOOR), and the CPU used by the workers, by the database
server, and by the whole machine, in cores (CPU seconds ÷ wall seconds).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from benchmarks.harness import BenchError
from benchmarks.helpers import Helper, HelperFailed
from benchmarks.probes import probe
from benchmarks.spec import ACTIVITIES_PER_WORKFLOW, Job

WORKER = "worker"
READY_LIMIT_S = 120.0
WARMUP_WORKFLOWS = 5


def _shares(total: int, parts: int) -> list[tuple[int, int]]:
    """``(first, count)`` of each part: ``total`` split as evenly as possible."""
    base, extra = divmod(total, parts)
    shares, first = [], 0
    for index in range(parts):
        count = base + (1 if index < extra else 0)
        shares.append((first, count))
        first += count
    return shares


def ownership(reports: list[dict[str, Any]]) -> tuple[int, int]:
    """``(instances run by more than one process, activity executions beyond the three per instance)``."""
    owners: dict[str, int] = {}
    executions: dict[str, int] = {}
    for report in reports:
        for wid, count in report["executions"].items():
            owners[wid] = owners.get(wid, 0) + 1
            executions[wid] = executions.get(wid, 0) + int(count)
    cross = sum(1 for count in owners.values() if count > 1)
    duplicates = sum(max(0, count - ACTIVITIES_PER_WORKFLOW) for count in executions.values())
    return cross, duplicates


class ScaleOutBench:
    def __init__(self, job: Job) -> None:
        self.job = job
        self.processes = max(1, int(job.extra.get("processes", "1")))
        self.workers: list[Helper] = []

    async def setup(self) -> dict[str, Any]:
        self.workers = [await Helper.spawn(WORKER) for _ in range(self.processes)]
        readies = [await worker.expect("ready", READY_LIMIT_S) for worker in self.workers]
        return {"system": readies[0].get("system"), "version": readies[0].get("version")}

    async def _batch(self, shares: list[tuple[int, int]], offset: int, limit_s: float) -> list[dict[str, Any]]:
        for worker, (first, count) in zip(self.workers, shares, strict=True):
            worker.send("batch", first=offset + first, count=count, limit_s=limit_s)
        return list(await asyncio.gather(*(w.expect("batch_done", limit_s + 30.0) for w in self.workers)))

    async def warmup(self) -> None:
        # One workflow alone first, in one process (edda-framework fails concurrent first starts of a workflow).
        self.workers[0].send("batch", first=2_000_000, count=1, limit_s=60.0)
        await self.workers[0].expect("batch_done", 90.0)
        total = WARMUP_WORKFLOWS * self.processes
        reports = await self._batch(_shares(total, self.processes), 1_000_000, 60.0)
        failed = sum(int(r["failed"]) for r in reports)
        if failed:
            raise BenchError(f"warm-up: {failed} workflow(s) failed; first: {reports[0]['first_error']}")

    async def measure(self) -> dict[str, Any]:
        total = self.job.workflows
        await probe("start")
        reports = await self._batch(_shares(total, self.processes), 0, self.job.deadline_s - 30.0)
        after = await probe("end", wal=True)
        wall = max(r["t_last"] for r in reports) - min(r["t_first"] for r in reports)
        completed = sum(int(r["completed"]) for r in reports)
        cross, duplicates = ownership(reports)
        delta = after.get("delta", {})
        seconds = float(delta.get("seconds") or 0.0)

        def per_second(key: str) -> float | None:
            value = delta.get(key)
            return float(value) / seconds if isinstance(value, int | float) and seconds > 0 else None

        total_cpu = delta.get("total_s")
        busy = delta.get("busy_s")
        return {
            "workflows": total,
            "completed": completed,
            "failed": total - completed,
            "first_error": next((r["first_error"] for r in reports if r["first_error"]), ""),
            "processes": self.processes,
            "wall_s": wall,
            "throughput": completed / wall if wall > 0 else 0.0,
            "per_process": [int(r["completed"]) / (r["t_last"] - r["t_first"]) for r in reports],
            "cross_process": cross,
            "duplicates": duplicates,
            "commits_per_s": per_second("commits"),
            "worker_cores": per_second("group_cpu_s"),
            "server_cores": per_second("server_cpu_s"),
            "machine_busy": busy / total_cpu if isinstance(busy, int | float) and total_cpu else None,
        }

    async def teardown(self) -> None:
        for worker in self.workers:
            with contextlib.suppress(HelperFailed, TimeoutError):
                await worker.stop()
