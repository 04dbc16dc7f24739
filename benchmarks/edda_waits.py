"""W3-W6 for this repository's Edda (see :mod:`benchmarks.eventsys` for the workflows every system defines).

* waits: ``await wait_event(ctx, EVENT_TYPE)``, ``await sleep(ctx, TIMER_SECONDS)``;
* delivery: ``await app.handle_cloudevent({... "eddainstanceid": id ...})`` (targeted), the same without
  ``eddainstanceid`` (broadcast: one event wakes every workflow waiting for the type);
* parked: ``app.get_instance(id).status == "waiting_for_event"`` (``find_instances`` pages to count many);
* results: an ``on_workflow_complete`` / ``on_workflow_failed`` hook (called after the completion commit) feeds
  :class:`~benchmarks.eventsys.Completions`; where another process may run the workflow (W3 cross-process) the
  status is polled instead; ``status`` reads ``app.get_instance``.

Settings are EddaApp's defaults, except ``lease_timeout_seconds`` when the job says so (W5 ``lease 2 s``).
``edda`` is imported in :meth:`EddaEvents.setup` only (see :mod:`benchmarks.edda_workloads`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from importlib import metadata
from types import SimpleNamespace
from typing import Any

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

_FIND_PAGE = 1000


def edda_version() -> str:
    for dist in ("edda-core", "edda"):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return "workspace"


def _define(edda: Any) -> SimpleNamespace:
    """Declare the W3-W6 workflows exactly as a user would."""
    activity, workflow = edda.activity, edda.workflow

    @activity
    async def stamp(ctx: Any) -> float:
        return time.monotonic()

    @activity
    async def prepare(ctx: Any, k: int) -> int:
        return k

    @activity
    async def long_step(ctx: Any, k: int) -> int:
        return await long_step_body(k, ctx.instance_id)

    @workflow
    async def bench_waiter(ctx: Any, k: int) -> dict[str, Any]:
        await edda.wait_event(ctx, EVENT_TYPE)
        return {"k": k, "t": time.monotonic()}

    @workflow
    async def bench_sleeper(ctx: Any, k: int) -> dict[str, Any]:
        t0 = await stamp(ctx)
        await edda.sleep(ctx, TIMER_SECONDS)
        return {"k": k, "t0": t0, "t": time.monotonic()}

    @workflow
    async def bench_crasher(ctx: Any, k: int) -> dict[str, Any]:
        await long_step(ctx, await prepare(ctx, k))
        return {"k": k, "t": time.monotonic()}

    return SimpleNamespace(waiter=bench_waiter, sleeper=bench_sleeper, crasher=bench_crasher)


class RunCounts:
    """Runs that ended suspended, and workflows that completed, in this process (W8 counts, reads no id)."""

    def __init__(self) -> None:
        self.suspended = 0
        self.completed = 0


def _make_hooks(edda: Any, completions: Completions, counts: RunCounts, count_only: frozenset[str]) -> Any:
    """Results of the workflows named in ``count_only`` are counted, not kept (W8: 100,000 waiters)."""

    class BenchHooks(edda.HooksBase):  # type: ignore[misc,name-defined]
        async def on_workflow_complete(self, instance_id: str, workflow_name: str, result: Any) -> None:
            counts.completed += 1
            if workflow_name not in count_only:
                completions.finished(instance_id, result)

        async def on_workflow_failed(self, instance_id: str, workflow_name: str, error: Exception) -> None:
            completions.finished(instance_id, error)

        async def on_workflow_run_end(self, instance_id: str, workflow_name: str, outcome: Any) -> None:
            if str(outcome) == "suspended":
                counts.suspended += 1

    return BenchHooks()


def _status(record: Any) -> str:
    status = getattr(record, "status", None)
    return str(getattr(status, "value", status))


class EddaEvents:
    name = "edda"

    def __init__(self) -> None:
        self.version = "unknown"
        self.role = ""
        self.completions = Completions()
        self.run_counts = RunCounts()
        self._app: Any = None
        self._workflows: SimpleNamespace | None = None
        self._sequence = 0

    async def setup(self, job: Job, role: str) -> None:
        import edda  # lazy: see the module docstring

        self.version = edda_version()
        self.role = role
        self._workflows = _define(edda)
        settings: dict[str, Any] = {}
        if "lease_timeout_seconds" in job.extra:
            settings["lease_timeout_seconds"] = float(job.extra["lease_timeout_seconds"])
        count_only = frozenset({"bench_waiter", "bench_napper"} if job.workload == "W8" else ())
        hooks = _make_hooks(edda, self.completions, self.run_counts, count_only)
        self._app = edda.EddaApp(service_name="bench", db_url=job.db_url, hooks=hooks, **settings)
        await self._app.initialize()

    async def start(self, kind: str, k: int) -> str:
        assert self._workflows is not None
        return str(await getattr(self._workflows, kind).start(k=k))

    async def is_parked(self, wid: str) -> bool:
        return _status(await self._app.get_instance(wid)) == "waiting_for_event"

    async def count_parked(self, wids: Sequence[str]) -> int:
        wanted, parked, token = set(wids), 0, None
        while True:
            page = await self._app.find_instances(status="waiting_for_event", limit=_FIND_PAGE, page_token=token)
            parked += sum(1 for record in page["instances"] if record.instance_id in wanted)
            token = page["next_page_token"]
            if not token:
                return parked

    def _event(self, data: dict[str, Any], target: str | None) -> dict[str, Any]:
        self._sequence += 1
        event = {
            "specversion": "1.0",
            "type": EVENT_TYPE,
            "source": "bench",
            "id": f"bench-{self.role}-{self._sequence}",
            "data": data,
        }
        if target is not None:
            event["eddainstanceid"] = target
        return event

    async def deliver(self, wid: str, k: int) -> None:
        await self._app.handle_cloudevent(self._event({"k": k}, wid))

    async def broadcast(self, wids: Sequence[str]) -> None:
        await self._app.handle_cloudevent(self._event({}, None))

    async def results(self, wids: Sequence[str], wait_s: float) -> dict[str, Any]:
        if self.role == MAIN_CROSS:
            return await poll_results(wids, wait_s, self._read)
        found = await self.completions.wait(wids, wait_s)
        self.completions.forget(found)
        return found

    async def _read(self, wid: str) -> tuple[str, Any]:
        record = await self._app.get_instance(wid)
        status = _status(record)
        if status == "completed":
            return FINISHED_OK, record.output_data
        if status in ("failed", "cancelled"):
            return FINISHED_FAILED, RuntimeError(f"workflow {wid} ended {status}: {record.error!r}")
        return NOT_FINISHED, None

    async def status(self, wid: str) -> str:
        return (await self._read(wid))[0]

    async def teardown(self) -> None:
        if self._app is not None:
            await self._app.shutdown()
