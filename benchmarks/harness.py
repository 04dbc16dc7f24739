"""Child side of the runner protocol, shared by every system adapter and the FLOOR probe (stdlib only).

A child is one process measuring one (system, database, workload) combination:

1. ``setup`` (connect, migrate) and a short warm-up, then it sends ``ready`` and waits for ``go`` on stdin;
2. it runs the measured phase, sends ``result`` and waits for ``stop``;
3. it tears down and sends ``done``.

The runner decides when the measured phase starts; it counts PostgreSQL commits itself, from the database's
statistics, once the child has exited. Protocol lines go to the original stdout with a prefix; everything else the
process prints is redirected to stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from benchmarks import probes
from benchmarks.spec import PROTOCOL_PREFIX, Job, expected_result
from benchmarks.stats import percentile


class BenchError(Exception):
    """A benchmark-level failure (wrong result, runner went away)."""


class Bench(Protocol):
    async def setup(self) -> dict[str, Any]:
        """Prepare; return facts to report (``system``, ``version``, driver versions...)."""
        ...

    async def warmup(self) -> None: ...

    async def measure(self) -> dict[str, Any]: ...

    async def teardown(self) -> None: ...


class WorkflowSystem(Protocol):
    """What an adapter implements for W1/W2: start a workflow, await its result."""

    name: str
    version: str

    async def setup(self, job: Job) -> None: ...

    async def start(self, n: int) -> Any:
        """Start ``bench_workflow(n)``; return whatever ``result`` needs (an id or a handle)."""
        ...

    async def result(self, handle: Any, wait_s: float) -> Any:
        """Wait at most ``wait_s`` seconds for the workflow's return value; raise if it failed."""
        ...

    async def teardown(self) -> None: ...


class Channel:
    """Protocol lines on a private copy of stdout; fd 1 itself is pointed at stderr. Helper processes (see
    :mod:`benchmarks.helpers`) use the same channel and read JSON commands from stdin."""

    def __init__(self) -> None:
        self._out = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
        sys.stdout.flush()
        os.dup2(2, 1)
        # A thread of our own for stdin: some systems shut the event loop's default executor down (DBOS.destroy()).
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bench-stdin")

    async def read_line(self) -> str:
        """The next line of stdin ("" once it is closed)."""
        return await asyncio.get_running_loop().run_in_executor(self._reader, sys.stdin.readline)

    def send(self, event: str, **fields: Any) -> None:
        self._out.write(PROTOCOL_PREFIX + json.dumps({"event": event, **fields}, default=str) + "\n")
        self._out.flush()

    async def expect(self, word: str) -> None:
        line = await self.read_line()
        if line.strip() != word:
            raise BenchError(f"expected {word!r} from the runner, got {line.strip()!r}")

    async def receive(self) -> dict[str, Any]:
        """The next JSON command on stdin; ``{"op": "stop"}`` once stdin is closed."""
        line = await self.read_line()
        if not line:
            return {"op": "stop"}
        try:
            command = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BenchError(f"unreadable command {line.strip()[:80]!r}") from exc
        return command if isinstance(command, dict) else {"op": str(command)}


class WorkflowBench:
    """W1 (sequential), W2 (concurrent) and BASELINE (nothing measured) on top of a :class:`WorkflowSystem`.

    A workflow that raises or returns a wrong value counts as failed; the run goes on and reports ``failed`` (with
    the first error), and throughput counts completed workflows only.
    """

    def __init__(self, system: WorkflowSystem, job: Job) -> None:
        self.system = system
        self.job = job
        self.failed = 0
        self.first_error = ""

    async def setup(self) -> dict[str, Any]:
        await self.system.setup(self.job)
        return {"system": self.system.name, "version": self.system.version}

    async def warmup(self) -> None:
        for i in range(self.job.warmup):
            await self._one(100_000 + i, wait_s=30.0)

    async def measure(self) -> dict[str, Any]:
        runners = {"W1": self._sequential, "W2": self._concurrent, "BASELINE": self._nothing}
        runner = runners.get(self.job.workload)
        if runner is None:
            raise BenchError(f"unknown workflow workload {self.job.workload!r}")
        try:
            metrics = await asyncio.wait_for(runner(), timeout=self.job.deadline_s)
        except TimeoutError as exc:
            raise TimeoutError(f"{self.job.workload} exceeded its {self.job.deadline_s:.0f} s budget") from exc
        if self.job.workflows and self.failed == self.job.workflows:
            raise BenchError(f"all {self.failed} workflows failed; first: {self.first_error}")
        return {**metrics, "failed": self.failed, "first_error": self.first_error}

    async def teardown(self) -> None:
        await self.system.teardown()

    def _failure(self, n: int, exc: BaseException) -> None:
        self.failed += 1
        if not self.first_error:
            self.first_error = f"workflow {n}: {type(exc).__name__}: {exc}"[:500]

    async def _one(self, n: int, wait_s: float) -> float:
        started = time.perf_counter()
        handle = await self.system.start(n)
        value = await self.system.result(handle, wait_s)
        elapsed = time.perf_counter() - started
        _check(n, value)
        return elapsed

    async def _nothing(self) -> dict[str, Any]:
        return {"workflows": 0, "wall_s": 0.0, "throughput": 0.0}

    async def _sequential(self) -> dict[str, Any]:
        count = self.job.workflows
        latencies: list[float] = []
        started = time.perf_counter()
        for n in range(count):
            try:
                latencies.append(await self._one(n, wait_s=self.job.deadline_s))
            except Exception as exc:
                self._failure(n, exc)
        wall = time.perf_counter() - started
        if not latencies:
            raise BenchError(f"all {count} workflows failed; first: {self.first_error}")
        return {
            "workflows": count,
            "wall_s": wall,
            "throughput": len(latencies) / wall,
            "p50_ms": percentile(latencies, 50) * 1e3,
            "p99_ms": percentile(latencies, 99) * 1e3,
            "mean_ms": sum(latencies) / len(latencies) * 1e3,
        }

    async def _concurrent(self) -> dict[str, Any]:
        count = self.job.workflows
        wait_s = self.job.deadline_s
        started = time.perf_counter()
        handles = await asyncio.gather(*(self.system.start(n) for n in range(count)), return_exceptions=True)
        all_started = time.perf_counter() - started
        pending = [(n, h) for n, h in enumerate(handles) if not isinstance(h, BaseException)]
        for n, h in enumerate(handles):
            if isinstance(h, BaseException):
                self._failure(n, h)
        values = await asyncio.gather(*(self.system.result(h, wait_s) for _, h in pending), return_exceptions=True)
        wall = time.perf_counter() - started
        completed = 0
        for (n, _), value in zip(pending, values, strict=True):
            try:
                if isinstance(value, BaseException):
                    raise value
                _check(n, value)
                completed += 1
            except Exception as exc:
                self._failure(n, exc)
        return {"workflows": count, "wall_s": wall, "throughput": completed / wall, "start_phase_s": all_started}


def _check(n: int, value: Any) -> None:
    if value != expected_result(n):
        raise BenchError(f"workflow {n} returned {value!r}, expected {expected_result(n)!r}")


def classify(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, ImportError):
        return "unavailable"
    return "error"


async def _drive(make: Callable[[Job], Bench], job: Job, channel: Channel, phase: list[str]) -> None:
    phase[0] = "setup"
    bench = make(job)
    info = await bench.setup()
    try:
        phase[0] = "warmup"
        await bench.warmup()
        channel.send("ready", **info)
        await channel.expect("go")
        phase[0] = "measure"
        metrics = await bench.measure()
        channel.send("result", metrics=metrics)
        await channel.expect("stop")
    except BaseException:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(bench.teardown(), timeout=30.0)
        raise
    phase[0] = "teardown"
    await asyncio.wait_for(bench.teardown(), timeout=30.0)
    channel.send("done")


def run_child(make: Callable[[Job], Bench]) -> int:
    """Entry point of every child module: ``sys.exit(run_child(factory))``."""
    channel = Channel()
    probes.install(channel)
    phase = ["start"]
    try:
        job = Job.from_env()
        asyncio.run(_drive(make, job, channel, phase))
    except BaseException as exc:  # reported to the runner, which decides what to show
        message = f"{type(exc).__name__}: {exc}".strip()
        channel.send("error", phase=phase[0], kind=classify(exc), error=message[:2000])
        if not isinstance(exc, Exception):
            raise
        return 1
    return 0
