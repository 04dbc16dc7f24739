"""Several services on one database: a worker claims only the instances of workflows its process defines.

Another service's instances (here left behind by its crashed worker: leases lapsed, one a due timer) must stay
untouched, and must not keep the worker busy: before ``ClaimsByWorkflow``, every recovery pass claimed and released
them, and a batch full of them looked like a backlog, so the next pass came at once (about 500 passes a second,
each a write, for as long as the other service's instances waited).
"""

from __future__ import annotations

import asyncio
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
