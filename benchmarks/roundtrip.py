"""W3: event round trips (child side, stdlib only).

One round trip: start ``waiter(k)``, wait (untimed) until it is parked on its event, then take ``t_send`` and
deliver the event to that instance; the latency is the workflow's own timestamp taken right after its wait
returned, minus ``t_send``. Round trips run one after
another, up to ``job.workflows`` or until the workload's budget is spent (what was done is reported).

Variant ``cross-process`` (PostgreSQL): the event is delivered by a helper process (same system, same workflow
definitions), which takes ``t_send`` itself; whichever process claims the woken workflow runs it.

Variant ``HTTP, same process``: the measured process also serves the system's CloudEvents endpoint over HTTP
(uvicorn on 127.0.0.1, see :mod:`benchmarks.httpserve`), and the event is POSTed to it as a structured CloudEvent
(``application/cloudevents+json``, with ``eddainstanceid``) on a keep-alive connection; ``t_send`` is taken before
the request is written. ``http_p50_ms`` is the request's own round trip (until the response was read).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from benchmarks.eventsys import MAIN, MAIN_CROSS, SENDER, check_value
from benchmarks.harness import BenchError
from benchmarks.helpers import Helper
from benchmarks.httpserve import HttpClient
from benchmarks.scalesys import ScaleSystem
from benchmarks.spec import EVENT_TYPE, W3_CROSS, W3_HTTP, WORKLOADS, Job
from benchmarks.stats import percentile

PARK_WAIT_S = 30.0
PARK_POLL_S = 0.002
TRIP_LIMIT_S = 45.0  # from the send; above edda-framework's 30 s (+10 % jitter) fallback poll, which counts
WARMUP_BUDGET_S = 60.0


class RoundTripBench:
    def __init__(self, system: ScaleSystem, job: Job) -> None:
        self.system = system
        self.job = job
        self.cross = job.variant == W3_CROSS
        self.sender: Helper | None = None
        self.http: HttpClient | None = None
        self.http_path = "/"
        self.http_times: list[float] = []
        self.failed = 0
        self.first_error = ""

    async def setup(self) -> dict[str, Any]:
        if self.cross:  # first: edda-framework's initialize() installs uvloop's policy, which cannot spawn processes
            self.sender = await Helper.spawn(SENDER)
            await self.sender.expect("ready", 120.0)
        await self.system.setup(self.job, MAIN_CROSS if self.cross else MAIN)
        if self.job.variant == W3_HTTP:
            port, self.http_path = await self.system.serve_http()
            self.http = HttpClient(port)
        return {"system": self.system.name, "version": self.system.version}

    async def warmup(self) -> None:
        stop_at = time.monotonic() + WARMUP_BUDGET_S
        for i in range(self.job.warmup):
            remaining = stop_at - time.monotonic()
            if remaining <= 0:
                return
            try:
                await asyncio.wait_for(self._trip(100_000 + i), timeout=remaining)
            except TimeoutError:  # a slow system, not a broken one: the measured phase will show it
                return

    async def measure(self) -> dict[str, Any]:
        spec = WORKLOADS["W3"]
        started = time.monotonic()
        stop_at = started + min(spec.budget_s or self.job.deadline_s, self.job.deadline_s)
        latencies: list[float] = []
        attempted = 0
        for k in range(self.job.workflows):
            if time.monotonic() >= stop_at:
                break
            attempted += 1
            try:
                latencies.append(await asyncio.wait_for(self._trip(k), timeout=PARK_WAIT_S + TRIP_LIMIT_S))
            except Exception as exc:
                self.failed += 1
                self.first_error = self.first_error or f"round trip {k}: {type(exc).__name__}: {exc}"[:500]
        wall = time.monotonic() - started
        if not latencies:
            raise BenchError(f"no round trip completed; first error: {self.first_error}")
        measured = self.http_times[-len(latencies) :]
        http = {"http_p50_ms": percentile(measured, 50) * 1e3} if self.http is not None and measured else {}
        return {
            **http,
            "workflows": attempted,
            "completed": len(latencies),
            "budget_hit": attempted < self.job.workflows,
            "wall_s": wall,
            "p50_ms": percentile(latencies, 50) * 1e3,
            "p99_ms": percentile(latencies, 99) * 1e3,
            "max_ms": max(latencies) * 1e3,
            "mean_ms": sum(latencies) / len(latencies) * 1e3,
            "failed": self.failed,
            "first_error": self.first_error,
        }

    async def teardown(self) -> None:
        if self.sender is not None:
            await self.sender.stop()
        if self.http is not None:
            await self.http.close()
        await self.system.teardown()

    async def _trip(self, k: int) -> float:
        wid = await self.system.start("waiter", k)
        deadline = time.monotonic() + PARK_WAIT_S
        while not await self.system.is_parked(wid):
            if time.monotonic() >= deadline:
                raise TimeoutError(f"waiter {k} not parked within {PARK_WAIT_S:.0f} s")
            await asyncio.sleep(PARK_POLL_S)
        sent = await self._send(wid, k)
        value = (await self.system.results([wid], TRIP_LIMIT_S)).get(wid)
        if value is None:
            raise TimeoutError(f"waiter {k} did not finish within {TRIP_LIMIT_S:.0f} s of its event")
        return float(check_value(k, value)["t"]) - sent

    async def _send(self, wid: str, k: int) -> float:
        if self.http is not None:
            event = {
                "specversion": "1.0",
                "type": EVENT_TYPE,
                "source": "bench",
                "id": f"bench-http-{k}-{wid}",
                "datacontenttype": "application/json",
                "eddainstanceid": wid,
                "data": {"k": k},
            }
            sent = time.monotonic()
            await self.http.post_cloudevent(self.http_path, event)
            self.http_times.append(time.monotonic() - sent)
            return sent
        if self.sender is None:
            sent = time.monotonic()
            await self.system.deliver(wid, k)
            return sent
        self.sender.send("send", wid=wid, k=k)
        return float((await self.sender.expect("sent", TRIP_LIMIT_S))["t"])
