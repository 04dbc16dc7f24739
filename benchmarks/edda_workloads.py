"""This repository's Edda, run in the workspace environment: ``python -m benchmarks.edda_workloads``. W1/W2 here,
W3-W6 in :mod:`benchmarks.edda_waits`, W7-W10 in :mod:`benchmarks.edda_scale`.

The runner never imports this module; it starts it as a child process. ``edda`` itself is imported inside
:meth:`EddaSystem.setup`, so a workspace whose packages are still incomplete shows up as "unavailable" in the
table instead of breaking the run.
"""

from __future__ import annotations

import sys
from typing import Any

from benchmarks.child import main
from benchmarks.edda_scale import EddaScale
from benchmarks.edda_waits import edda_version
from benchmarks.spec import Job


def _define(edda: Any) -> Any:
    """Declare the benchmark workflow exactly as a user would (3 trivial activities)."""
    activity = edda.activity
    workflow = edda.workflow

    @activity
    async def add_one(ctx: Any, x: int) -> int:
        return x + 1

    @activity
    async def double(ctx: Any, x: int) -> int:
        return x * 2

    @activity
    async def minus_one(ctx: Any, x: int) -> int:
        return x - 1

    @workflow
    async def bench_workflow(ctx: Any, n: int) -> int:
        a = await add_one(ctx, n)
        b = await double(ctx, a)
        return await minus_one(ctx, b)

    return bench_workflow


class EddaSystem:
    name = "edda"

    def __init__(self) -> None:
        self.version = "unknown"
        self._app: Any = None
        self._workflow: Any = None

    async def setup(self, job: Job) -> None:
        import edda  # lazy: see the module docstring

        self.version = edda_version()
        self._workflow = _define(edda)
        self._app = edda.EddaApp(service_name="bench", db_url=job.db_url)
        await self._app.initialize()

    async def start(self, n: int) -> Any:
        return await self._workflow.start(n=n)

    async def result(self, handle: Any, wait_s: float) -> Any:
        return await self._app.wait_for_result(handle, timeout=wait_s)

    async def teardown(self) -> None:
        if self._app is not None:
            await self._app.shutdown()


if __name__ == "__main__":
    sys.exit(main(EddaSystem, EddaScale))
