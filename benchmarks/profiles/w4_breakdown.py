"""Where the lateness of W4 as users see it goes: 500 sleepers started at once, results awaited one call each.

    uv run python -m benchmarks.profiles.w4_breakdown [--db sqlite|postgres] [--workflows 500] [--profile FILE]

The workload of W4 ``user view``: ``start()`` of every sleeper at once (one ``asyncio.gather``), each takes ``t0`` in
an activity and sleeps 1 s durably; ``app.wait_for_result`` for each, all at once. Lateness = the workflow's time
after the sleep - (``t0`` + 1 s). It splits into two parts, measured per workflow and printed as p50/p99:

* *t0 -> sleep registered*: from the activity's ``t0`` until the workflow calls ``sleep`` (the activity's result is
  committed in between: an activity's result is durable when its ``await`` returns), and the timer is due 1 s after
  that call. The burst's own work (500 starts, 500 activity commits) is queued ahead of the last ones;
* *due -> run resumed*: from the timer's due time until the run that wakes it starts (the recovery passes claim due
  instances ``max_workflows_per_batch`` at a time, and each claimed run reads its history and replays).

With ``--profile FILE``, a pyinstrument profile (text) of the measured phase is written there. PostgreSQL databases
are made and dropped as the runner does (``EDDA_BENCH_PG_URL``); URLs are never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from benchmarks.databases import PgAdmin, fresh_database
from benchmarks.stats import percentile
from edda import EddaApp, WorkflowContext, activity, sleep, workflow
from edda.hooks import HooksBase

_SLEEP_CALLED: dict[int, float] = {}  # k -> when the first run called sleep()
_RUN_STARTS: dict[str, list[float]] = {}


@activity
async def breakdown_stamp(ctx: WorkflowContext) -> float:
    return time.monotonic()


@workflow
async def breakdown_sleeper(ctx: WorkflowContext, k: int) -> dict[str, Any]:
    t0 = await breakdown_stamp(ctx)
    _SLEEP_CALLED.setdefault(k, time.monotonic())
    await sleep(ctx, 1.0)
    return {"k": k, "t0": t0, "t": time.monotonic()}


class _RunStarts(HooksBase):
    async def on_workflow_run_start(self, instance_id: str, workflow_name: str, trace: Any) -> None:
        _RUN_STARTS.setdefault(instance_id, []).append(time.monotonic())


def _line(label: str, values: list[float]) -> str:
    return f"  p50 {percentile(values, 50) * 1e3:7.1f}  p99 {percentile(values, 99) * 1e3:7.1f}  ms  {label}"


async def _burst(app: EddaApp, count: int, profile: str | None) -> None:
    for k in range(5):  # warm-up
        await app.wait_for_result(await breakdown_sleeper.start(k=-1 - k), timeout=30)
    _SLEEP_CALLED.clear()
    _RUN_STARTS.clear()
    profiler: Any = None
    if profile:
        from pyinstrument import Profiler

        profiler = Profiler(async_mode="disabled")
        profiler.start()
    ids = await asyncio.gather(*(breakdown_sleeper.start(k=k) for k in range(count)))
    results = await asyncio.gather(*(app.wait_for_result(iid, timeout=60) for iid in ids))
    if profiler is not None:
        profiler.stop()
        text = profiler.output_text(unicode=False, color=False, show_all=False)
        await asyncio.to_thread(Path(profile).write_text, text)
    late = [r["t"] - (r["t0"] + 1.0) for r in results]
    registered = [_SLEEP_CALLED[r["k"]] - r["t0"] for r in results]
    resumed = [_RUN_STARTS[iid][-1] - (_SLEEP_CALLED[r["k"]] + 1.0) for iid, r in zip(ids, results, strict=True)]
    print(_line("lateness: wake - (t0 + 1 s)", late))
    print(_line("t0 -> sleep registered (the activity's commit, behind the burst)", registered))
    print(_line("due -> the run that wakes it starts (claim, history read)", resumed))


async def main(db: str, count: int, profile: str | None) -> None:
    async with AsyncExitStack() as stack:
        pg = await PgAdmin.connect() if db == "postgres" else None
        if pg is not None:
            stack.push_async_callback(pg.close)
        database = await stack.enter_async_context(fresh_database(db, pg, None))
        print(f"{db}, {count} sleepers started at once, results awaited with app.wait_for_result:")
        async with EddaApp(service_name="breakdown", db_url=database.url, hooks=_RunStarts()) as app:
            await _burst(app, count, profile)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--workflows", type=int, default=500)
    parser.add_argument("--profile", default=None, help="write a pyinstrument text profile of the burst here")
    options = parser.parse_args()
    asyncio.run(main(options.db, options.workflows, options.profile))
