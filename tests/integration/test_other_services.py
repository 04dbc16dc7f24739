"""Several services on one database: a worker claims only the instances of workflows its process defines.

Another service's instances (here left behind by its crashed worker: leases lapsed, one a due timer) must stay
untouched, and must not keep the worker busy: before ``ClaimsByWorkflow``, every recovery pass claimed and released
them, and a batch full of them looked like a backlog, so the next pass came at once (about 500 passes a second,
each a write, for as long as the other service's instances waited).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from edda import EddaApp, WorkflowContext, sleep, workflow
from edda.storage import open_storage
from edda.storage.protocol import ClaimsByWorkflow
from edda.storage.records import Fence, InstanceUpdate, NewInstance, StepCommit
from tests.integration.databases import temporary_database

FOREIGN = 30  # three full batches of the default 10


@workflow
async def own_napper(ctx: WorkflowContext) -> str:
    await sleep(ctx, 0.3)
    return "woke"


class CountingClaims:
    """The storage, counting recovery passes (claims of runnable instances) and hiding ``ClaimsByWorkflow`` if
    asked (a storage from before it, or a third party's)."""

    def __init__(self, inner: Any, *, hide: bool) -> None:
        self._inner = inner
        self._hide = hide
        self.passes = 0

    def __getattr__(self, name: str) -> Any:
        if self._hide and name in ("claim_runnable_of", "next_wake_at_of"):
            raise AttributeError(name)
        attr = getattr(self._inner, name)
        if name not in ("claim_runnable", "claim_runnable_of"):
            return attr

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.passes += 1
            return await attr(*args, **kwargs)

        return counted


async def leave_foreign_instances(storage: Any) -> None:
    """What a crashed worker of the billing service left: running instances with lapsed leases and a due timer."""
    then = datetime.now(UTC) - timedelta(minutes=5)
    for i in range(FOREIGN):
        await storage.create_instance(
            NewInstance(f"billing-{i}", "billing_flow", {"n": i}, "billing-worker", then, then + timedelta(seconds=1))
        )
    fence = Fence("billing-0", "billing-worker", 1)
    wait = InstanceUpdate(status="waiting_for_timer", wake_at=then, release_lease=True)
    await storage.commit_step(StepCommit(fence=fence, now=then, update=wait))


async def claims_of(storage: Any) -> dict[str, tuple[int, str, datetime, datetime | None]]:
    records = await storage.get_instances([f"billing-{i}" for i in range(FOREIGN)])
    assert len(records) == FOREIGN
    return {iid: (r.lease_epoch, r.status, r.updated_at, r.wake_at) for iid, r in records.items()}


@pytest.mark.parametrize("kind", ["sqlite", "postgresql", "mysql"])
async def test_another_services_instances_stay_untouched_and_cost_no_passes(kind: str, tmp_path: Path) -> None:
    async with temporary_database(kind, tmp_path) as db_url:
        inner = open_storage(db_url)
        await inner.initialize()
        try:
            assert isinstance(inner, ClaimsByWorkflow)
            await leave_foreign_instances(inner)
            before = await claims_of(inner)
            storage = CountingClaims(inner, hide=False)
            async with EddaApp(service_name="orders", storage=storage, use_listen_notify=False) as app:
                iid = await own_napper.start()
                assert await app.wait_for_result(iid, timeout=10) == "woke"
                passes_at = storage.passes
                await asyncio.sleep(2.0)
                idle_passes = storage.passes - passes_at
            # Not one claimed (a claim bumps the lease epoch) nor run. (On SQLite, a single-process database, the
            # app's start cleared every lease of other processes: that is no claim.)
            assert await claims_of(inner) == before
            # A pass a recovery interval (1 s), give or take one woken early: nowhere near the spin's ~1,000.
            assert idle_passes <= 4, f"{idle_passes} recovery passes in 2 s of idling"
        finally:
            await inner.close()


async def test_without_the_capability_passes_that_only_release_do_not_spin(tmp_path: Path) -> None:
    inner = open_storage(f"sqlite:///{tmp_path}/shared.db")
    await inner.initialize()
    try:
        await leave_foreign_instances(inner)
        storage = CountingClaims(inner, hide=True)
        assert not isinstance(storage, ClaimsByWorkflow)
        async with EddaApp(service_name="orders", storage=storage) as app:
            iid = await own_napper.start()
            # The own timer comes due behind the other service's instances, which each pass claims (and releases)
            # first: passes go through what they have not seen yet at once, then one a recovery interval.
            assert await app.wait_for_result(iid, timeout=10) == "woke"
            passes_at = storage.passes
            await asyncio.sleep(2.0)
            idle_passes = storage.passes - passes_at
        assert idle_passes <= 3 * FOREIGN // 10 + 4, f"{idle_passes} recovery passes in 2 s of idling"
        # Released, not run: they are still there for the billing service's workers.
        records = await inner.get_instances([f"billing-{i}" for i in range(FOREIGN)])
        assert all(r.status in ("running", "waiting_for_timer") and r.owner_id is None for r in records.values())
    finally:
        await inner.close()


SERVICE_WORKER = Path(__file__).with_name("service_worker.py")
ROOT = Path(__file__).resolve().parents[2]


def service(db_url: str, name: str, count: int) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, str(SERVICE_WORKER), db_url, name, str(count)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def epochs_of(db_url: str, ids: list[str]) -> dict[str, tuple[int, str]]:
    storage = open_storage(db_url)
    await storage.initialize()
    try:
        return {iid: (r.lease_epoch, r.status) for iid, r in (await storage.get_instances(ids)).items()}
    finally:
        await storage.close()


@pytest.mark.parametrize("kind", ["postgresql", "mysql"])
async def test_two_service_processes_on_one_database_each_run_only_their_own(kind: str, tmp_path: Path) -> None:
    """The billing service's worker is SIGKILLed with 15 instances in their 1 s sleep; while they come due, the orders
    service's worker runs its own 15 and never claims one of billing's. A new billing worker then finishes them."""
    count = 15
    billing_ids = [f"billing-{n}" for n in range(count)]
    async with temporary_database(kind, tmp_path) as db_url:
        storage = open_storage(db_url)
        await storage.initialize()  # the schema, before two processes race to create it
        await storage.close()
        billing = service(db_url, "billing", count)
        assert billing.stdout is not None
        assert await asyncio.to_thread(billing.stdout.readline) == "started\n"
        for _ in range(100):  # every billing instance in its sleep: the first activity done, the timer stored
            if all(s == "waiting_for_timer" for _e, s in (await epochs_of(db_url, billing_ids)).values()):
                break
            await asyncio.sleep(0.05)
        billing.kill()
        billing.communicate(timeout=30)
        left = await epochs_of(db_url, billing_ids)
        assert all(s == "waiting_for_timer" for _e, s in left.values()), left

        orders = await asyncio.to_thread(service(db_url, "orders", count).communicate, timeout=90)
        out, err = orders
        results = json.loads(out.strip().splitlines()[-1])
        assert sorted(results) == sorted(f"orders-{n}" for n in range(count)), err[-2000:]
        assert "does not define" not in err, err[-2000:]  # it never claimed (and released) a billing instance
        assert await epochs_of(db_url, billing_ids) == left  # due all along, and not one claimed by orders

        again = await asyncio.to_thread(service(db_url, "billing", 0).communicate, timeout=90)
        finished = json.loads(again[0].strip().splitlines()[-1])
        assert sorted(finished) == sorted(billing_ids), again[1][-2000:]
        assert all(r[1].endswith(f"after {iid.split('-')[1]}") for iid, r in finished.items())
