"""Conformance tests for :class:`edda.storage.protocol.LeaseStore`: claiming, renewing and releasing leases."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from edda.storage.records import (
    Fence,
    InstanceUpdate,
)
from edda.testing.storage._helpers import OTHER, T0, WORKER, new_instance, step

__all__ = ["LeaseStoreConformance"]


@pytest.mark.asyncio
class LeaseStoreConformance:
    """Contract tests for :class:`~edda.storage.protocol.LeaseStore`. Subclasses provide the ``storage`` fixture."""

    async def test_claim_respects_live_lease(self, storage: Any) -> None:
        await storage.create_instance(new_instance(lease=30))
        assert (
            await storage.claim_instance(
                "i-1", worker_id=OTHER, now=T0 + timedelta(seconds=1), lease_expires_at=T0 + timedelta(seconds=60)
            )
            is None
        )
        mine = await storage.claim_instance(
            "i-1", worker_id=WORKER, now=T0 + timedelta(seconds=1), lease_expires_at=T0 + timedelta(seconds=60)
        )
        assert mine is not None and mine.lease_epoch == 2
        assert await storage.claim_instance("missing", worker_id=WORKER, now=T0, lease_expires_at=T0) is None

    async def test_claim_skips_finished(self, storage: Any) -> None:
        await storage.create_instance(new_instance())
        await storage.commit_step(step(update=InstanceUpdate(status="failed", release_lease=True)))
        assert await storage.claim_instance("i-1", worker_id=OTHER, now=T0, lease_expires_at=T0) is None

    async def test_claim_runnable(self, storage: Any) -> None:
        soon = T0 + timedelta(seconds=10)
        await storage.create_instance(new_instance("live", lease=60))  # live lease: not runnable
        await storage.create_instance(new_instance("expired", lease=1))  # lease lapsed: runnable
        await storage.create_instance(new_instance("released"))  # released while running: runnable
        await storage.commit_step(step("released", update=InstanceUpdate(release_lease=True)))
        await storage.create_instance(new_instance("timer-due"))
        await storage.commit_step(
            step(
                "timer-due",
                update=InstanceUpdate(
                    status="waiting_for_timer", wake_at=soon - timedelta(seconds=1), release_lease=True
                ),
            )
        )
        await storage.create_instance(new_instance("timer-later"))
        await storage.commit_step(
            step(
                "timer-later",
                update=InstanceUpdate(
                    status="waiting_for_timer", wake_at=soon + timedelta(hours=1), release_lease=True
                ),
            )
        )
        await storage.create_instance(new_instance("waiting-event"))
        await storage.commit_step(
            step("waiting-event", update=InstanceUpdate(status="waiting_for_event", release_lease=True))
        )
        await storage.create_instance(new_instance("done"))
        await storage.commit_step(step("done", update=InstanceUpdate(status="completed", release_lease=True)))
        await storage.create_instance(new_instance("cancel-me"))
        await storage.commit_step(
            step("cancel-me", update=InstanceUpdate(status="waiting_for_event", release_lease=True))
        )
        await storage.request_cancel("cancel-me", now=T0)

        claimed = await storage.claim_runnable(
            worker_id=OTHER, now=soon, lease_expires_at=soon + timedelta(30), limit=10
        )
        assert {c.instance_id for c in claimed} == {"expired", "released", "timer-due", "cancel-me"}
        assert all(c.owner_id == OTHER for c in claimed)
        again = await storage.claim_runnable(worker_id=WORKER, now=soon, lease_expires_at=soon, limit=10)
        assert again == []

    async def test_claim_runnable_limit(self, storage: Any) -> None:
        for i in range(5):
            await storage.create_instance(new_instance(f"i-{i}", lease=0))
        first = await storage.claim_runnable(
            worker_id=OTHER, now=T0 + timedelta(seconds=1), lease_expires_at=T0 + timedelta(seconds=30), limit=3
        )
        assert len(first) == 3

    async def test_concurrent_claims_have_one_winner(self, storage: Any) -> None:
        await storage.create_instance(new_instance(lease=0))
        now = T0 + timedelta(seconds=1)
        results = await asyncio.gather(
            *(
                storage.claim_instance("i-1", worker_id=f"w{i}", now=now, lease_expires_at=now + timedelta(seconds=30))
                for i in range(8)
            )
        )
        winners = [r for r in results if r is not None]
        assert len(winners) == 1
        assert (await storage.get_instance("i-1")).owner_id == winners[0].owner_id

    async def test_renew_leases(self, storage: Any) -> None:
        await storage.create_instance(new_instance("a", lease=5))
        await storage.create_instance(new_instance("b", lease=5))
        until = T0 + timedelta(seconds=100)
        renewed = await storage.renew_leases(
            [Fence("a", WORKER, 1), Fence("b", WORKER, 7), Fence("c", WORKER, 1)], lease_expires_at=until
        )
        assert renewed == {"a"}
        assert (await storage.get_instance("a")).lease_expires_at == until

    async def test_release_foreign_leases(self, storage: Any) -> None:
        await storage.create_instance(new_instance("mine", owner=WORKER))
        await storage.create_instance(new_instance("theirs", owner=OTHER))
        assert await storage.release_foreign_leases(worker_id=WORKER) == 1
        assert (await storage.get_instance("theirs")).owner_id is None
        assert (await storage.get_instance("mine")).owner_id == WORKER
