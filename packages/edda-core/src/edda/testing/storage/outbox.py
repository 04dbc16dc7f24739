"""Conformance tests for :class:`edda.storage.protocol.OutboxStore`: outbox rows written with a step, and relaying
them."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from edda.storage.records import (
    NewOutboxEvent,
)
from edda.testing.storage._helpers import T0, completed, new_instance, step

__all__ = ["OutboxStoreConformance"]


@pytest.mark.asyncio
class OutboxStoreConformance:
    """Contract tests for :class:`~edda.storage.protocol.OutboxStore`. Subclasses provide the ``storage`` fixture."""

    async def test_outbox_written_with_step(self, storage: Any) -> None:
        await storage.create_instance(new_instance())
        await storage.commit_step(
            step(
                history=(completed("a:1"),),
                outbox=(
                    NewOutboxEvent("e1", "order.created", "orders", {"id": 1}),
                    NewOutboxEvent("e2", "order.blob", "orders", b"\x00\x01", content_type="application/octet-stream"),
                ),
            )
        )
        events = await storage.list_outbox(status="pending")
        assert [e.event_id for e in events] == ["e1", "e2"]
        assert events[0].data == {"id": 1} and events[0].instance_id == "i-1"
        assert events[1].data == b"\x00\x01" and events[1].content_type == "application/octet-stream"

    # -- outbox relaying ----------------------------------------------------------------------------------------

    async def _outbox_of(self, storage: Any, spec: dict[str, int]) -> None:
        for iid, count in spec.items():
            await storage.create_instance(new_instance(iid))
            for n in range(count):
                await storage.commit_step(step(iid, outbox=(NewOutboxEvent(f"{iid}-e{n}", "t", "s", {"n": n}),)))

    async def test_outbox_claims_in_order_one_head_per_instance(self, storage: Any) -> None:
        await self._outbox_of(storage, {"a": 2, "b": 1})
        until = T0 + timedelta(seconds=30)
        claimed = await storage.claim_outbox(worker_id="r1", now=T0, claim_expires_at=until, limit=10)
        assert [e.event_id for e in claimed] == ["a-e0", "b-e0"]  # a-e1 waits for a-e0
        assert all(e.claimed_by == "r1" for e in claimed) and claimed[0].seq < claimed[1].seq
        assert await storage.claim_outbox(worker_id="r2", now=T0, claim_expires_at=until, limit=10) == []
        assert await storage.finish_outbox("a-e0", worker_id="r1", status="published", now=T0) is True
        nxt = await storage.claim_outbox(worker_id="r2", now=T0, claim_expires_at=until, limit=10)
        assert [e.event_id for e in nxt] == ["a-e1"]
        published = await storage.list_outbox(status="published")
        assert [(e.event_id, e.attempts, e.published_at) for e in published] == [("a-e0", 1, T0)]

    async def test_outbox_retry_and_expired_claims(self, storage: Any) -> None:
        await self._outbox_of(storage, {"a": 1})
        until = T0 + timedelta(seconds=30)
        [event] = await storage.claim_outbox(worker_id="r1", now=T0, claim_expires_at=until, limit=1)
        later = T0 + timedelta(seconds=5)
        assert await storage.retry_outbox(event.event_id, worker_id="r1", error="503", next_attempt_at=later)
        assert await storage.claim_outbox(worker_id="r1", now=T0, claim_expires_at=until, limit=1) == []
        [again] = await storage.claim_outbox(worker_id="r2", now=later, claim_expires_at=later + timedelta(1), limit=1)
        assert again.attempts == 1 and again.last_error == "503"
        # r1's stale claim cannot finish it; after r2's claim lapses, r3 can take it
        assert await storage.finish_outbox(event.event_id, worker_id="r1", status="published", now=later) is False
        much_later = later + timedelta(days=2)
        [third] = await storage.claim_outbox(worker_id="r3", now=much_later, claim_expires_at=much_later, limit=1)
        assert third.event_id == event.event_id
        assert await storage.finish_outbox(
            event.event_id, worker_id="r3", status="failed", now=much_later, error="400 bad request"
        )
        [failed] = await storage.list_outbox(status="failed")
        assert failed.last_error == "400 bad request" and failed.attempts == 2
        assert await storage.claim_outbox(worker_id="r4", now=much_later, claim_expires_at=much_later, limit=5) == []

    async def test_concurrent_outbox_claims_never_overlap(self, storage: Any) -> None:
        await self._outbox_of(storage, {f"i{n}": 1 for n in range(20)})
        until = T0 + timedelta(seconds=30)
        batches = await asyncio.gather(
            *(storage.claim_outbox(worker_id=f"r{n}", now=T0, claim_expires_at=until, limit=5) for n in range(6))
        )
        ids = [e.event_id for batch in batches for e in batch]
        assert len(ids) == len(set(ids)) == 20

    # -- failed events hold back their instance; re-send and skip -----------------------------------------------

    async def _fail_head(self, storage: Any, event_id: str) -> None:
        [event] = await storage.claim_outbox(worker_id="r1", now=T0, claim_expires_at=T0 + timedelta(30), limit=1)
        assert event.event_id == event_id
        assert await storage.finish_outbox(event_id, worker_id="r1", status="failed", now=T0, error="400 rejected")

    async def test_a_failed_event_holds_back_its_instance_only(self, storage: Any) -> None:
        await self._outbox_of(storage, {"a": 2})
        await self._fail_head(storage, "a-e0")
        await self._outbox_of(storage, {"b": 1})
        claimed = await storage.claim_outbox(worker_id="r2", now=T0, claim_expires_at=T0 + timedelta(30), limit=10)
        assert [e.event_id for e in claimed] == ["b-e0"]  # a-e1 waits behind the failed a-e0

    async def test_resend_makes_a_failed_event_pending_and_first_again(self, storage: Any) -> None:
        await self._outbox_of(storage, {"a": 2})
        await self._fail_head(storage, "a-e0")
        assert await storage.resend_outbox("a-e0", now=T0) is True
        [pending_head, pending_next] = await storage.list_outbox(status="pending")
        assert (pending_head.event_id, pending_head.attempts, pending_head.next_attempt_at) == ("a-e0", 0, None)
        assert pending_next.event_id == "a-e1"
        claimed = await storage.claim_outbox(worker_id="r2", now=T0, claim_expires_at=T0 + timedelta(30), limit=10)
        assert [e.event_id for e in claimed] == ["a-e0"]
        assert await storage.resend_outbox("a-e0", now=T0) is False  # pending already
        assert await storage.resend_outbox("no-such-event", now=T0) is False

    async def test_skip_lets_the_later_events_of_the_instance_go(self, storage: Any) -> None:
        await self._outbox_of(storage, {"a": 2})
        await self._fail_head(storage, "a-e0")
        assert await storage.skip_outbox("a-e0", now=T0) is True
        assert [e.event_id for e in await storage.list_outbox(status="skipped")] == ["a-e0"]
        claimed = await storage.claim_outbox(worker_id="r2", now=T0, claim_expires_at=T0 + timedelta(30), limit=10)
        assert [e.event_id for e in claimed] == ["a-e1"]
        assert await storage.finish_outbox("a-e1", worker_id="r2", status="published", now=T0) is True
        assert await storage.skip_outbox("a-e1", now=T0) is False  # published: nothing to skip
        assert await storage.skip_outbox("no-such-event", now=T0) is False
        assert await storage.resend_outbox("a-e0", now=T0) is True  # a skipped event can still be re-sent
        assert [e.event_id for e in await storage.list_outbox(status="pending")] == ["a-e0"]

    async def test_skipping_an_event_in_flight_fences_off_its_sender(self, storage: Any) -> None:
        await self._outbox_of(storage, {"a": 1})
        [event] = await storage.claim_outbox(worker_id="r1", now=T0, claim_expires_at=T0 + timedelta(30), limit=1)
        assert await storage.skip_outbox(event.event_id, now=T0) is True
        assert await storage.finish_outbox(event.event_id, worker_id="r1", status="published", now=T0) is False
        assert [e.status for e in await storage.list_outbox()] == ["skipped"]
