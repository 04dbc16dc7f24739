"""W3-W6 through edda-framework 0.16.2 (see :mod:`benchmarks.eventsys` for the workflows every system defines).

API as read from the installed 0.16.2 source:

* waits: ``await wait_event(ctx, event_type)`` (subscribes to the type's channel in broadcast mode, then
  ``receive``), ``await sleep(ctx, seconds)`` (whole seconds);
* delivery: ``await app.handle_cloudevent(CloudEvent(attributes, data), wait=True)`` with the ``eddainstanceid``
  extension (targeted) or without it (broadcast: every subscriber of the type). It takes a ``cloudevents`` SDK
  event. ``wait=True`` so the call returns once delivery is done (with the default ``wait=False`` it only schedules
  a task and returns before anything is stored); delivery marks the instance runnable and a polling loop resumes
  it: every 1 s with exponential backoff to 60 s when idle (SQLite), or on LISTEN/NOTIFY with a 30 s fallback
  (PostgreSQL). Expired timers are found by the elected leader every 10 s.
* parked: ``start()`` runs the workflow inline and returns once it suspended; status ``waiting_for_message``
  (``app.find_instances`` pages to count many);
* results: ``on_workflow_complete`` / ``on_workflow_failed`` hooks feed
  :class:`~benchmarks.eventsys.Completions`; where another process may run the workflow (W3 cross-process) the
  status is polled with ``app.storage.get_instance``;
* recovery: a crashed worker's instance locks expire after 300 s; the leader looks for stale locks every 60 s.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from importlib import metadata
from typing import Any

from cloudevents.http import CloudEvent

from benchmarks.eventsys import (
    FINISHED_FAILED,
    FINISHED_OK,
    MAIN_CROSS,
    NOT_FINISHED,
    Completions,
    long_step_body,
    poll_results,
)
from benchmarks.spec import EVENT_TYPE, TIMER_SECONDS, Job
from edda import EddaApp, WorkflowContext, activity, sleep, wait_event, workflow
from edda.hooks import HooksBase

_PARKED = ("waiting_for_message", "waiting_for_event")
_FAILED = ("failed", "cancelled")
_FIND_PAGE = 1000


@activity
async def bench_stamp(ctx: WorkflowContext) -> float:
    return time.monotonic()


@activity
async def bench_prepare(ctx: WorkflowContext, k: int) -> int:
    return k


@activity
async def bench_long_step(ctx: WorkflowContext, k: int) -> int:
    return await long_step_body(k, ctx.instance_id)


@workflow
async def bench_waiter(ctx: WorkflowContext, k: int) -> dict[str, Any]:
    await wait_event(ctx, EVENT_TYPE)
    return {"k": k, "t": time.monotonic()}


@workflow
async def bench_sleeper(ctx: WorkflowContext, k: int) -> dict[str, Any]:
    t0 = await bench_stamp(ctx)
    await sleep(ctx, round(TIMER_SECONDS))
    return {"k": k, "t0": t0, "t": time.monotonic()}


@workflow
async def bench_crasher(ctx: WorkflowContext, k: int) -> dict[str, Any]:
    await bench_long_step(ctx, await bench_prepare(ctx, k))
    return {"k": k, "t": time.monotonic()}


_WORKFLOWS = {"waiter": bench_waiter, "sleeper": bench_sleeper, "crasher": bench_crasher}


def sqlalchemy_url(job: Job) -> str:
    """edda-framework takes SQLAlchemy URLs: ``sqlite+aiosqlite:///...``, ``postgresql+asyncpg://...``,
    ``mysql+aiomysql://...``."""
    if job.db == "sqlite":
        return "sqlite+aiosqlite:///" + job.sqlite_path
    if job.db == "mysql":
        return job.db_url.replace("mysql://", "mysql+aiomysql://", 1)
    return job.db_url.replace("postgresql://", "postgresql+asyncpg://", 1)


class _Hooks(HooksBase):
    def __init__(self, completions: Completions) -> None:
        self.completions = completions

    async def on_workflow_complete(self, instance_id: str, workflow_name: str, result: Any) -> None:
        self.completions.finished(instance_id, result)

    async def on_workflow_failed(self, instance_id: str, workflow_name: str, error: Exception) -> None:
        self.completions.finished(instance_id, error)


class EddaFrameworkEvents:
    name = "edda-framework"

    def __init__(self) -> None:
        self.version = metadata.version("edda-framework")
        self.role = ""
        self.completions = Completions()
        self._app: EddaApp | None = None
        self._ids = itertools.count(1)

    @property
    def app(self) -> EddaApp:
        assert self._app is not None
        return self._app

    async def setup(self, job: Job, role: str) -> None:
        self.role = role
        self._app = EddaApp(service_name="bench", db_url=sqlalchemy_url(job), hooks=_Hooks(self.completions))
        await self._app.initialize()

    async def start(self, kind: str, k: int) -> str:
        return str(await _WORKFLOWS[kind].start(k=k))

    async def _status(self, wid: str) -> tuple[str, Any]:
        instance = await self.app.storage.get_instance(wid)
        return (instance or {}).get("status", "missing"), instance

    async def is_parked(self, wid: str) -> bool:
        return (await self._status(wid))[0] in _PARKED

    async def count_parked(self, wids: Sequence[str]) -> int:
        wanted, parked = set(wids), 0
        for status in _PARKED:
            token = None
            while True:
                page = await self.app.find_instances(status=status, limit=_FIND_PAGE, page_token=token)
                parked += sum(1 for instance in page["instances"] if instance["instance_id"] in wanted)
                token = page.get("next_page_token")
                if not token:
                    break
        return parked

    def _event(self, data: dict[str, Any], target: str | None) -> CloudEvent:
        attributes = {"type": EVENT_TYPE, "source": "bench", "id": f"bench-{self.role}-{next(self._ids)}"}
        if target is not None:
            attributes["eddainstanceid"] = target
        return CloudEvent(attributes, data)

    async def deliver(self, wid: str, k: int) -> None:
        await self.app.handle_cloudevent(self._event({"k": k}, wid), wait=True)

    async def broadcast(self, wids: Sequence[str]) -> None:
        await self.app.handle_cloudevent(self._event({}, None), wait=True)

    async def results(self, wids: Sequence[str], wait_s: float) -> dict[str, Any]:
        if self.role == MAIN_CROSS:
            return await poll_results(wids, wait_s, self._read)
        found = await self.completions.wait(wids, wait_s)
        self.completions.forget(found)
        return found

    async def _read(self, wid: str) -> tuple[str, Any]:
        status, instance = await self._status(wid)
        if status == "completed":
            return FINISHED_OK, instance["output_data"]["result"]  # type: ignore[index]
        if status in _FAILED:
            return FINISHED_FAILED, RuntimeError(f"workflow {wid} ended {status}")
        return NOT_FINISHED, None

    async def status(self, wid: str) -> str:
        return (await self._read(wid))[0]

    async def teardown(self) -> None:
        if self._app is not None:
            await self._app.shutdown()
