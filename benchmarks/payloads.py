"""W10: large payloads (child side, stdlib only). Variant: the size (1 KB, 100 KB, 1 MB) and the encoding (``json``:
text, which the systems store as JSON; ``bytes``: raw bytes). Payloads are random, so no storage can compress them.

1. Activity results: ``workflows`` ``producer`` workflows started together (like W2); each one's activity returns
   the payload, the workflow returns its length. Throughput = completed ÷ (last result - first start).
2. Event payloads: as many ``inbox`` workflows are started and parked; then each gets one event carrying the payload
   (:data:`DELIVERY_CONCURRENCY` in flight); events/s = completed ÷ (first delivery - last result).

Bytes per workflow, from probes (see :mod:`benchmarks.probing`) around each phase: ``written``, the bytes written
for it — PostgreSQL: the WAL records of this database; SQLite: what the process group wrote to storage (WAL frames
and checkpoints, ``/proc/<pid>/io``); and ``stored``, the growth of the database.
"""

from __future__ import annotations

import asyncio
import time
from functools import partial
from typing import Any

from benchmarks.eventsys import MAIN, bounded
from benchmarks.harness import BenchError
from benchmarks.probes import delta, probe
from benchmarks.scalesys import ScaleSystem, check_len, event_data
from benchmarks.spec import Job

DELIVERY_CONCURRENCY = 20
PARK_LIMIT_S = 120.0
PARK_POLL_S = 0.02
WARMUP_WAIT_S = 60.0  # edda-framework on PostgreSQL may take its 30 s fallback poll to deliver


def _written(reply: dict[str, Any], db: str) -> float | None:
    return delta(reply, "wal_bytes") if db == "postgres" else delta(reply, "group_write_bytes")


class PayloadBench:
    def __init__(self, system: ScaleSystem, job: Job) -> None:
        self.system = system
        self.job = job
        self.size = int(job.extra.get("size", "1024"))
        self.raw = job.extra.get("encoding") == "bytes"
        self.count = max(2, int(job.extra.get("workflows", "20")))
        self.failed = 0
        self.first_error = ""

    async def setup(self) -> dict[str, Any]:
        await self.system.setup(self.job, MAIN)
        return {"system": self.system.name, "version": self.system.version}

    async def warmup(self) -> None:
        # One of each alone first: edda-framework fails concurrent first starts of a workflow (see the README).
        for first in (100_000, 100_001):
            await self._results(range(first, first + 1), WARMUP_WAIT_S)
            await self._events(range(first + 10, first + 11), WARMUP_WAIT_S)
        if self.failed:
            raise BenchError(f"warm-up: {self.failed} workflow(s) failed; first: {self.first_error}")

    def _failure(self, what: str, exc: BaseException) -> None:
        self.failed += 1
        self.first_error = self.first_error or f"{what}: {type(exc).__name__}: {exc}"[:500]

    def _check(self, wids: dict[str, int], done: dict[str, Any]) -> int:
        completed = 0
        for wid, k in wids.items():
            try:
                check_len(k, done.get(wid, TimeoutError("not finished")), self.size)
                completed += 1
            except Exception as exc:
                self._failure(f"workflow {k}", exc)
        return completed

    async def _results(self, ks: range, wait_s: float) -> tuple[int, float]:
        args = {"size": self.size, "raw": self.raw}
        started = time.monotonic()
        handles = await asyncio.gather(
            *(self.system.launch("producer", {"k": k, **args}) for k in ks), return_exceptions=True
        )
        wids = self._started(ks, handles)
        done = await self.system.results(list(wids), wait_s)
        return self._check(wids, done), time.monotonic() - started

    def _started(self, ks: range, handles: list[Any]) -> dict[str, int]:
        wids: dict[str, int] = {}
        for k, handle in zip(ks, handles, strict=True):
            if isinstance(handle, BaseException):
                self._failure(f"start of workflow {k}", handle)
            else:
                wids[str(handle)] = k
        return wids

    async def _park(self, ks: range, limit_s: float) -> dict[str, int]:
        handles = await asyncio.gather(*(self.system.launch("inbox", {"k": k}) for k in ks), return_exceptions=True)
        wids = self._started(ks, handles)
        deadline = time.monotonic() + limit_s
        while await self.system.count_parked(list(wids)) < len(wids):
            if time.monotonic() > deadline:
                raise BenchError(f"{len(wids)} inbox workflows not all parked within {limit_s:.0f} s")
            await asyncio.sleep(PARK_POLL_S)
        return wids

    async def _events(self, ks: range, wait_s: float, probed: bool = False) -> tuple[int, float, dict[str, Any]]:
        wids = await self._park(ks, min(wait_s, PARK_LIMIT_S))
        before = await probe("events start") if probed else {}
        data = event_data(self.size, self.raw)
        started = time.monotonic()
        sends = await bounded((partial(self.system.deliver_data, wid, data) for wid in wids), DELIVERY_CONCURRENCY)
        for outcome in sends:
            if isinstance(outcome, BaseException):
                self._failure("delivery", outcome)
        done = await self.system.results(list(wids), wait_s)
        elapsed = time.monotonic() - started
        completed = self._check(wids, done)
        return completed, elapsed, before

    async def measure(self) -> dict[str, Any]:
        db = self.job.db
        await probe("results start")
        completed, elapsed = await self._results(range(self.count), self.job.deadline_s / 3)
        after = await probe("results end", wal=True)
        events, events_s, _ = await self._events(range(self.count, 2 * self.count), self.job.deadline_s / 3, True)
        after_events = await probe("events end", wal=True)
        if not completed and not events:
            raise BenchError(f"no workflow completed; first error: {self.first_error}")

        def per(value: float | None, count: int) -> float | None:
            return value / count if value is not None and count else None

        return {
            "workflows": 2 * self.count,
            "completed": completed + events,
            "size": self.size,
            "encoding": "bytes" if self.raw else "json",
            "throughput": completed / elapsed if elapsed > 0 else 0.0,
            "events_per_s": events / events_s if events_s > 0 else 0.0,
            "written_per_wf": per(_written(after, db), completed),
            "stored_per_wf": per(delta(after, "db_bytes"), completed),
            "written_per_event": per(_written(after_events, db), events),
            "stored_per_event": per(delta(after_events, "db_bytes"), events),
            "failed": self.failed,
            "first_error": self.first_error,
        }

    async def teardown(self) -> None:
        await self.system.teardown()
