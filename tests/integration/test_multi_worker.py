"""Three worker processes share one PostgreSQL or MySQL database; one is SIGKILLed mid-run.

300 workflows mix activities, durable sleeps, addressed and broadcast CloudEvents (delivered from the test process)
and a competing channel (producers publish jobs, a few consumers take them one at a time with ``ctx.recur()``).
Each worker starts a third of them. When about a third have completed, worker 0 is SIGKILLed while it owns
instances in flight. Checks: every workflow completes with its expected result, every activity's side effect
happened exactly once, every published job was processed exactly once, and the dead worker's instances were taken
over by the others within lease_timeout_seconds + 3 s (the measured time is printed; run with ``-s`` to see it).
On these servers the storage detects the dead process through its session lock (see edda_storage_sql._liveness),
so takeover normally takes well under a second; the bound also covers the lease-expiry fallback.

The test process is a client only (see soak_support.ClientStorage); worker logs are in the test's tmp_path.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import pytest

from edda import EddaApp, InstanceRecord, InstanceStatus
from tests.integration.databases import temporary_database
from tests.integration.soak_plan import LEASE_TIMEOUT_SECONDS, build_plan
from tests.integration.soak_support import (
    FINISHED,
    Driver,
    all_instances,
    check_outcome,
    client_app,
    kill_all,
    prepare_database,
    progress,
    read_effects,
    start_workers,
    wait_until_finished,
)

WORKFLOWS = 300
CONSUMERS = 5
WORKERS = 3


def owned_in_flight(records: dict[str, InstanceRecord], worker_id: str) -> dict[str, InstanceRecord]:
    return {iid: r for iid, r in records.items() if r.owner_id == worker_id and r.status not in FINISHED}


async def measure_takeover(
    app: EddaApp, orphans: dict[str, InstanceRecord], dead: str, killed_at: float
) -> tuple[float, Counter[str]]:
    """Seconds from the SIGKILL until none of ``orphans`` is owned by the dead worker any more, and which services
    (``soak-wN``) took them (``released`` if it had already been run and suspended or finished by the time we looked)."""
    deadline = killed_at + 60
    takers: dict[str, str] = {}
    while time.monotonic() < deadline:
        records = await all_instances(app)
        for iid in orphans:
            record = records[iid]
            if iid not in takers and record.owner_id != dead:
                takers[iid] = "released" if record.owner_id is None else service_of(record.owner_id)
        if len(takers) == len(orphans):
            return time.monotonic() - killed_at, Counter(takers.values())
        await asyncio.sleep(0.02)
    raise AssertionError(f"the dead worker's instances were not taken over within 60 s: {sorted(orphans)[:10]}")


def service_of(worker_id: str) -> str:
    return "-".join(worker_id.split("-")[:2])  # soak-w1-<uuid> -> soak-w1


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.parametrize("kind", ["postgresql", "mysql"])
async def test_three_workers_one_sigkilled(kind: str, tmp_path: Path) -> None:
    plan = build_plan(WORKFLOWS, CONSUMERS)
    async with temporary_database(kind, tmp_path) as db_url:
        await prepare_database(db_url)
        began = time.monotonic()
        workers = start_workers(db_url, tmp_path, workers=WORKERS, count=WORKFLOWS, consumers=CONSUMERS, spread=0)
        driver_task: asyncio.Task[None] | None = None
        try:
            async with client_app(db_url) as app:
                ids = [await w.started() for w in workers]
                assert len({service_of(i) for i in ids}) == WORKERS, ids  # soak-w0-..., soak-w1-..., ...
                for w in workers:
                    await w.wait_for_line("STARTED", 60)
                driver = Driver(app, plan)
                driver_task = asyncio.create_task(driver.run())

                # Kill worker 0 once a third of the workflows are done, at a moment it owns instances in flight.
                victim = workers[0]
                deadline = time.monotonic() + 90
                while True:
                    records = await all_instances(app)
                    done = sum(1 for r in records.values() if r.status in FINISHED)
                    if done >= WORKFLOWS // 3 and len(owned_in_flight(records, victim.worker_id)) >= 3:
                        break
                    assert time.monotonic() < deadline, f"no moment to kill: {dict(progress(records))}"
                    assert not driver_task.done(), driver_task.result()
                    await asyncio.sleep(0.02)
                victim.kill()
                killed_at = victim.killed_at
                assert killed_at is not None
                after_kill = await all_instances(app)
                orphans = owned_in_flight(after_kill, victim.worker_id)
                done_at_kill = sum(1 for r in after_kill.values() if r.status in FINISHED)
                assert orphans, "the killed worker owned nothing in flight"
                takeover, takers = await measure_takeover(app, orphans, victim.worker_id, killed_at)
                assert service_of(victim.worker_id) not in takers

                finished_at = await wait_until_finished(driver, driver_task, timeout=150)
                instances = await all_instances(app)
                effects = await read_effects(app)
                outcome = check_outcome(plan, instances, effects)
                assert not outcome.driver_failures, outcome.driver_failures

                assert all(instances[iid].status == InstanceStatus.COMPLETED for iid in orphans)
                print(
                    f"\n[{kind}] {outcome.instances} workflows, {outcome.effects} effects, {outcome.jobs} jobs;"
                    f" killed {service_of(victim.worker_id)} at {killed_at - began:.1f} s with {done_at_kill} done,"
                    f" {len(orphans)} in flight ({dict(progress(orphans))});"
                    f" taken over in {takeover:.2f} s (lease {LEASE_TIMEOUT_SECONDS} s) by {dict(takers)};"
                    f" all done {finished_at - began:.1f} s after start, {finished_at - killed_at:.1f} s after the kill;"
                    f" events sent {len(driver.go_sent)}, broadcasts {driver.broadcasts}"
                )
                for w in workers:
                    print(f"[{kind}] worker {w.index} log: {dict(w.warnings())}")
                assert takeover < LEASE_TIMEOUT_SECONDS + 3, f"takeover took {takeover:.2f} s"
            for w in workers[1:]:
                assert w.stop() == 0, f"worker {w.index} did not shut down cleanly:\n{w.stderr_tail()}"
        finally:
            if driver_task is not None and not driver_task.done():
                driver_task.cancel()
                await asyncio.gather(driver_task, return_exceptions=True)
            kill_all(workers)
