"""edda-framework 0.16.2 (PyPI), run inside ``benchmarks/.venvs/edda-framework-0.16.2``: W1/W2 here, W3-W6 in
:mod:`benchmarks.peers.edda_framework_0162_waits`.

API as read from the installed 0.16.2 source:

* ``EddaApp(service_name=..., db_url=...)`` takes SQLAlchemy URLs (``sqlite+aiosqlite:///...``,
  ``postgresql+asyncpg://...``); ``await app.initialize()`` / ``await app.shutdown()``.
* ``await wf.start(**kwargs)`` executes the workflow inline and returns its instance id once it completed, failed
  or suspended; there is no result-waiting API, so the result is read with ``app.storage.get_instance(id)``
  (``status`` plus ``output_data == {"result": ...}``), polling only while the instance is not terminal.
"""

from __future__ import annotations

import asyncio
import sys
import time
from importlib import metadata
from typing import Any

from benchmarks.child import main
from benchmarks.harness import BenchError
from benchmarks.peers.edda_framework_0162_scale import EddaFrameworkScale
from benchmarks.peers.edda_framework_0162_waits import sqlalchemy_url
from benchmarks.spec import Job
from edda import EddaApp, WorkflowContext, activity, workflow

_TERMINAL_FAILURES = {"failed", "cancelled", "recurred"}
_POLL_INTERVAL_S = 0.01


@activity
async def add_one(ctx: WorkflowContext, x: int) -> int:
    return x + 1


@activity
async def double(ctx: WorkflowContext, x: int) -> int:
    return x * 2


@activity
async def minus_one(ctx: WorkflowContext, x: int) -> int:
    return x - 1


@workflow
async def bench_workflow(ctx: WorkflowContext, n: int) -> int:
    a = await add_one(ctx, n)
    b = await double(ctx, a)
    return await minus_one(ctx, b)


class EddaFrameworkSystem:
    name = "edda-framework"

    def __init__(self) -> None:
        self.version = metadata.version("edda-framework")
        self._app: EddaApp | None = None

    async def setup(self, job: Job) -> None:
        self._app = EddaApp(service_name="bench", db_url=sqlalchemy_url(job))
        await self._app.initialize()

    async def start(self, n: int) -> str:
        return await bench_workflow.start(n=n)

    async def result(self, handle: str, wait_s: float) -> Any:
        assert self._app is not None
        deadline = time.monotonic() + wait_s
        while True:
            instance = await self._app.storage.get_instance(handle)
            status = instance["status"] if instance else "missing"
            if status == "completed":
                return instance["output_data"]["result"]  # type: ignore[index]
            if status in _TERMINAL_FAILURES:
                raise BenchError(f"workflow {handle} ended as {status}: {instance.get('output_data')!r}")  # type: ignore[union-attr]
            if time.monotonic() >= deadline:
                raise TimeoutError(f"workflow {handle} still {status} after {wait_s:.0f} s")
            await asyncio.sleep(_POLL_INTERVAL_S)

    async def teardown(self) -> None:
        if self._app is not None:
            await self._app.shutdown()


if __name__ == "__main__":
    sys.exit(main(EddaFrameworkSystem, EddaFrameworkScale))
