"""Conformance tests for the retention methods of :class:`edda.storage.protocol.InstanceStore`
(``find_expired_instances``, ``count_expired_instances``, ``delete_expired_instances``): which finished instances are
past a retention period, and deleting them with their history in batches."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest

from edda.storage.records import InstanceUpdate, NewOutboxEvent
from edda.testing.storage._helpers import T0, completed, new_instance, step

__all__ = ["InstanceRetentionConformance"]

CUTOFF = T0 + timedelta(days=30)
RELAYER = "relayer-1"


async def _finished(storage: Any, instance_id: str, status: str, at: datetime, **extra: Any) -> None:
    """Create ``instance_id`` at T0 and finish it with ``status`` at ``at``, after one recorded step."""
    await storage.create_instance(new_instance(instance_id))
    await storage.commit_step(step(instance_id, history=(completed("a:1"),), **extra))
    update = InstanceUpdate(status=status, completed_at=at, wake_at=None, wait=None, release_lease=True)
    await storage.commit_step(step(instance_id, now=at, update=update))


async def _expired_ids(storage: Any, limit: int = 100) -> list[str]:
    return [r.instance_id for r in await storage.find_expired_instances(finished_before=CUTOFF, limit=limit)]


@pytest.mark.asyncio
class InstanceRetentionConformance:
    """Contract tests for the retention methods of :class:`~edda.storage.protocol.InstanceStore`. Subclasses provide
    the ``storage`` fixture."""

    async def test_expired_are_the_instances_finished_before_the_cutoff(self, storage: Any) -> None:
        await _finished(storage, "old-cancelled", "cancelled", T0 + timedelta(days=3))
        await _finished(storage, "old-completed", "completed", T0 + timedelta(days=1))
        await _finished(storage, "old-failed", "failed", T0 + timedelta(days=2))
        await _finished(storage, "at-cutoff", "completed", CUTOFF)  # not *before* the cutoff
        await _finished(storage, "recent", "completed", CUTOFF + timedelta(seconds=1))
        await storage.create_instance(new_instance("running"))
        await storage.create_instance(new_instance("waiting"))
        wait = InstanceUpdate(status="waiting_for_timer", wake_at=T0 + timedelta(days=400), release_lease=True)
        await storage.commit_step(step("waiting", update=wait))

        # The earliest finished first, whatever the order of creation.
        assert await _expired_ids(storage) == ["old-completed", "old-failed", "old-cancelled"]
        assert await _expired_ids(storage, limit=2) == ["old-completed", "old-failed"]
        assert await storage.count_expired_instances(finished_before=CUTOFF) == 3
        found = await storage.find_expired_instances(finished_before=CUTOFF, limit=1)
        assert found[0].status == "completed" and found[0].completed_at == T0 + timedelta(days=1)
        later = CUTOFF + timedelta(days=1)
        assert await storage.count_expired_instances(finished_before=later) == 5
        assert await storage.count_expired_instances(finished_before=T0) == 0

    async def test_delete_removes_the_instance_and_its_whole_history(self, storage: Any) -> None:
        await storage.create_instance(new_instance("gone"))
        await storage.commit_step(step("gone", history=(completed("a:1"),), update=InstanceUpdate(iteration=1)))
        await _finished(storage, "kept", "completed", CUTOFF + timedelta(days=1))
        finish = InstanceUpdate(status="completed", completed_at=T0, release_lease=True)
        await storage.commit_step(step("gone", history=(completed("b:1"),), update=finish))
        assert [e.activity_id for e in await storage.get_history("gone", iteration=0)] == ["a:1"]

        assert await storage.delete_expired_instances(finished_before=CUTOFF, limit=10) == 1
        assert await storage.get_instance("gone") is None
        assert await storage.get_history("gone", iteration=0) == []  # every iteration, not only the current one
        assert await storage.get_history("gone", iteration=1) == []
        assert await storage.count_expired_instances(finished_before=CUTOFF) == 0
        assert (await storage.get_instance("kept")).status == "completed"  # finished after the cutoff: untouched
        assert [e.activity_id for e in await storage.get_history("kept")] == ["a:1"]
        assert await storage.delete_expired_instances(finished_before=CUTOFF, limit=10) == 0
        _record, created = await storage.create_instance(new_instance("gone"))  # no row of the old one is left
        assert created is True and await storage.get_history("gone") == []

    async def test_an_outbox_event_still_to_send_holds_its_instance(self, storage: Any) -> None:
        events = (NewOutboxEvent("ev-sent", "t", "src", {"n": 1}), NewOutboxEvent("ev-later", "t", "src", {"n": 2}))
        await _finished(storage, "with-outbox", "completed", T0 + timedelta(days=1), outbox=events)
        claimed = await storage.claim_outbox(
            worker_id=RELAYER, now=T0, claim_expires_at=T0 + timedelta(seconds=30), limit=10
        )
        assert [e.event_id for e in claimed] == ["ev-sent"]
        assert await storage.finish_outbox("ev-sent", worker_id=RELAYER, status="published", now=T0)
        # ev-later is still pending: the instance stays, and so do its events.
        assert await _expired_ids(storage) == []
        assert await storage.delete_expired_instances(finished_before=CUTOFF, limit=10) == 0
        assert await storage.get_instance("with-outbox") is not None

        claimed = await storage.claim_outbox(
            worker_id=RELAYER, now=T0, claim_expires_at=T0 + timedelta(seconds=30), limit=10
        )
        assert await storage.finish_outbox("ev-later", worker_id=RELAYER, status="failed", now=T0, error="4xx")
        assert await _expired_ids(storage) == []  # a failed event waits for a re-send or a skip
        assert await storage.skip_outbox("ev-later", now=T0)
        assert await _expired_ids(storage) == ["with-outbox"]
        assert await storage.delete_expired_instances(finished_before=CUTOFF, limit=10) == 1
        assert await storage.get_outbox_event("ev-sent") is None  # settled events go with their instance
        assert await storage.get_outbox_event("ev-later") is None
        assert await storage.list_outbox() == []

    async def test_outbox_events_of_other_instances_stay(self, storage: Any) -> None:
        await _finished(storage, "old", "completed", T0, outbox=(NewOutboxEvent("ev-old", "t", "src", 1),))
        await storage.skip_outbox("ev-old", now=T0)
        await _finished(storage, "new", "completed", CUTOFF, outbox=(NewOutboxEvent("ev-new", "t", "src", 2),))
        assert await storage.delete_expired_instances(finished_before=CUTOFF, limit=10) == 1
        assert [e.event_id for e in await storage.list_outbox()] == ["ev-new"]

    async def test_delete_in_batches(self, storage: Any) -> None:
        for i in range(5):
            await _finished(storage, f"b-{i}", "completed", T0 + timedelta(hours=i))
        assert await storage.delete_expired_instances(finished_before=CUTOFF, limit=2) == 2
        assert await storage.count_expired_instances(finished_before=CUTOFF) == 3
        assert await storage.delete_expired_instances(finished_before=CUTOFF, limit=2) == 2
        assert await storage.delete_expired_instances(finished_before=CUTOFF, limit=2) == 1
        assert await storage.delete_expired_instances(finished_before=CUTOFF, limit=2) == 0
        for i in range(5):
            assert await storage.get_instance(f"b-{i}") is None

    async def test_concurrent_deletes_share_the_work(self, storage: Any) -> None:
        for i in range(6):
            await _finished(storage, f"c-{i}", "failed", T0 + timedelta(minutes=i))
        first, second = await asyncio.gather(
            storage.delete_expired_instances(finished_before=CUTOFF, limit=4),
            storage.delete_expired_instances(finished_before=CUTOFF, limit=4),
        )
        assert first + second == 6
        assert await storage.count_expired_instances(finished_before=CUTOFF) == 0
