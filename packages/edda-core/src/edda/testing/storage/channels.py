"""Conformance tests for :class:`edda.storage.protocol.ChannelStore`: publishing, receiving and subscriptions."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from edda.exceptions import ChannelModeConflictError
from edda.storage.records import (
    Fence,
    HistoryEventType,
    InstanceUpdate,
    NewMessage,
    StepCommit,
    Subscribe,
    Unsubscribe,
)
from edda.testing.storage._helpers import OTHER, T0, WORKER, completed, new_instance, step

__all__ = ["ChannelStoreConformance"]


@pytest.mark.asyncio
class ChannelStoreConformance:
    """Contract tests for :class:`~edda.storage.protocol.ChannelStore`. Subclasses provide the ``storage`` fixture."""

    async def _waiting_receiver(
        self, storage: Any, iid: str, channel: str, mode: str | None = "broadcast", now: datetime = T0
    ) -> Any:
        await storage.create_instance(new_instance(iid, now=now))
        subs = (Subscribe(channel, mode),) if mode is not None else ()
        got = await storage.receive_or_wait(
            StepCommit(fence=Fence(iid, WORKER, 1), now=now, subscriptions=subs),
            channel=channel,
            step_id="r:1",
            wait=InstanceUpdate(status="waiting_for_message", wait={"channel": channel}, release_lease=True),
        )
        return got

    async def test_receive_waits_then_publish_wakes(self, storage: Any) -> None:
        assert await self._waiting_receiver(storage, "r1", "jobs") is None
        waiting = await storage.get_instance("r1")
        assert waiting.status == "waiting_for_message" and waiting.owner_id is None and waiting.wake_at is None
        later = T0 + timedelta(seconds=1)
        record, woken = await storage.publish(NewMessage("m1", "jobs", {"task": 1}, {"source": "t"}), now=later)
        assert woken == ("r1",) and record.seq > 0 and record.data == {"task": 1}
        assert (await storage.get_instance("r1")).wake_at == later
        assert await storage.next_wake_at() == later
        claimed = await storage.claim_runnable(
            worker_id=OTHER, now=later, lease_expires_at=later + timedelta(30), limit=10
        )
        assert [c.instance_id for c in claimed] == ["r1"]
        got = await storage.receive_or_wait(
            StepCommit(fence=Fence("r1", OTHER, 2), now=later), channel="jobs", step_id="r:1", wait=None
        )
        assert got is not None and got.message_id == "m1" and got.metadata == {"source": "t"}
        entry = (await storage.get_history("r1"))[-1]
        assert (entry.activity_id, entry.event_type) == ("r:1", HistoryEventType.MESSAGE_RECEIVED)
        assert entry.event_data["data"] == {"task": 1} and entry.event_data["message_id"] == "m1"
        assert entry.event_data["channel"] == "jobs"

    async def test_broadcast_reaches_every_subscriber_after_subscribing(self, storage: Any) -> None:
        await storage.publish(NewMessage("before", "news", {"n": 0}), now=T0)
        for iid in ("a", "b"):
            assert await self._waiting_receiver(storage, iid, "news") is None
        _, woken = await storage.publish(NewMessage("m1", "news", {"n": 1}), now=T0)
        assert sorted(woken) == ["a", "b"]
        await storage.publish(NewMessage("m2", "news", {"n": 2}), now=T0)
        for iid in ("a", "b"):
            await storage.claim_instance(iid, worker_id=WORKER, now=T0, lease_expires_at=T0 + timedelta(30))
            got = []
            for n in range(3):
                msg = await storage.receive_or_wait(
                    StepCommit(fence=Fence(iid, WORKER, 2), now=T0), channel="news", step_id=f"r:{n + 2}", wait=None
                )
                got.append(msg.message_id if msg else None)
            assert got == ["m1", "m2", None]  # not "before": published before subscribing

    async def test_a_new_subscription_reads_from_the_instance_start(self, storage: Any) -> None:
        # A broadcast message published after the instance was created, but before it first waits on the channel,
        # is not lost: a subscription made at the wait (or by subscribe()) starts at the instance's start.
        await storage.publish(NewMessage("before", "paid", {"n": 0}), now=T0)
        for iid in ("w", "s"):
            await storage.create_instance(new_instance(iid))
        await storage.publish(NewMessage("early", "paid", {"n": 1}), now=T0)
        got = await storage.receive_or_wait(step("w"), channel="paid", step_id="r:1", wait=None)
        assert got is not None and got.message_id == "early"
        await storage.commit_step(step("s", subscriptions=(Subscribe("paid", "broadcast"),)))
        got = await storage.receive_or_wait(step("s"), channel="paid", step_id="r:1", wait=None)
        assert got is not None and got.message_id == "early"
        assert await storage.receive_or_wait(step("s"), channel="paid", step_id="r:2", wait=None) is None

    async def test_unsubscribe_moves_where_a_later_subscription_starts(self, storage: Any) -> None:
        await storage.create_instance(new_instance("u"))
        await storage.publish(NewMessage("m1", "ch", {}), now=T0)
        got = await storage.receive_or_wait(step("u"), channel="ch", step_id="r:1", wait=None)
        assert got is not None and got.message_id == "m1"
        await storage.commit_step(step("u", subscriptions=(Unsubscribe("ch"),)))
        await storage.publish(NewMessage("m2", "ch", {}), now=T0)
        got = await storage.receive_or_wait(step("u"), channel="ch", step_id="r:2", wait=None)
        assert got is not None and got.message_id == "m2"  # not m1 again

    async def test_competing_delivers_each_message_once(self, storage: Any) -> None:
        await storage.publish(NewMessage("early", "work", {"n": 0}), now=T0)  # queued before any worker
        for iid in ("w1", "w2"):
            await storage.create_instance(new_instance(iid))
        await storage.commit_step(step("w1", subscriptions=(Subscribe("work", "competing"),)))
        await storage.commit_step(step("w2", subscriptions=(Subscribe("work", "competing"),)))
        await storage.publish(NewMessage("late", "work", {"n": 1}), now=T0)
        taken = []
        for _ in range(3):
            for iid in ("w1", "w2"):
                msg = await storage.receive_or_wait(step(iid), channel="work", step_id=f"x:{len(taken)}", wait=None)
                if msg is not None:
                    taken.append((iid, msg.message_id))
        assert sorted(m for _i, m in taken) == ["early", "late"]

    async def test_competing_wakes_one_waiter_per_message(self, storage: Any) -> None:
        for i in range(3):
            assert (
                await self._waiting_receiver(storage, f"w{i}", "q", "competing", now=T0 + timedelta(seconds=i)) is None
            )
        _, woken = await storage.publish(NewMessage("m", "q", {}), now=T0 + timedelta(seconds=9))
        assert woken == ("w0",)  # the longest-waiting one

    async def test_direct_messages_reach_only_their_target(self, storage: Any) -> None:
        assert await self._waiting_receiver(storage, "a", "approval", mode=None) is None
        assert await self._waiting_receiver(storage, "b", "approval", mode=None) is None
        _, woken = await storage.publish(NewMessage("m", "approval", {"ok": True}, target_instance_id="b"), now=T0)
        assert woken == ("b",)
        await storage.claim_instance("a", worker_id=WORKER, now=T0, lease_expires_at=T0 + timedelta(30))
        assert await storage.receive_or_wait(step("a", epoch=2), channel="approval", step_id="r:2", wait=None) is None
        await storage.claim_instance("b", worker_id=WORKER, now=T0, lease_expires_at=T0 + timedelta(30))
        got = await storage.receive_or_wait(step("b", epoch=2), channel="approval", step_id="r:2", wait=None)
        assert got is not None and got.target_instance_id == "b"
        assert await storage.receive_or_wait(step("b", epoch=2), channel="approval", step_id="r:3", wait=None) is None

    async def test_a_broadcast_wakes_more_waiting_instances_than_one_statement_takes(self, storage: Any) -> None:
        # A storage that wakes them in one statement fails once they are many (PostgreSQL takes at most 32,767
        # parameters a statement: a broadcast to 90,000 waiting instances failed); 1,200 cross a chunk boundary.
        ids = [f"w{n:05d}" for n in range(1200)]
        for iid in ids:
            assert await self._waiting_receiver(storage, iid, "fanout") is None
        _, woken = await storage.publish(NewMessage("all", "fanout", {"go": True}), now=T0)
        assert sorted(woken) == ids

    async def test_a_message_id_is_stored_once(self, storage: Any) -> None:
        # The same CloudEvent delivered twice (a sender's retry) must not satisfy a second wait.
        for iid in ("a", "b"):
            assert await self._waiting_receiver(storage, iid, "paid", mode=None) is None
        first, woken = await storage.publish(NewMessage("ce-1", "paid", {"n": 1}, target_instance_id="a"), now=T0)
        assert woken == ("a",)
        later = T0 + timedelta(seconds=5)
        again, woken = await storage.publish(NewMessage("ce-1", "paid", {"n": 2}, target_instance_id="b"), now=later)
        assert woken == () and again.seq == first.seq and again.data == {"n": 1} and again.target_instance_id == "a"
        await storage.claim_instance("a", worker_id=WORKER, now=later, lease_expires_at=later + timedelta(30))
        got = await storage.receive_or_wait(step("a", epoch=2), channel="paid", step_id="r:2", wait=None)
        assert got is not None and got.message_id == "ce-1"
        assert await storage.receive_or_wait(step("a", epoch=2), channel="paid", step_id="r:3", wait=None) is None
        await storage.claim_instance("b", worker_id=WORKER, now=later, lease_expires_at=later + timedelta(30))
        assert await storage.receive_or_wait(step("b", epoch=2), channel="paid", step_id="r:2", wait=None) is None

    async def test_a_message_id_is_free_again_once_cleaned_up(self, storage: Any) -> None:
        assert await self._waiting_receiver(storage, "r", "news") is None
        first, _ = await storage.publish(NewMessage("ce-2", "news", {"n": 1}), now=T0)
        await storage.claim_instance("r", worker_id=WORKER, now=T0, lease_expires_at=T0 + timedelta(30))
        got = await storage.receive_or_wait(step("r", epoch=2), channel="news", step_id="r:2", wait=None)
        assert got is not None and got.message_id == "ce-2"
        await storage.publish(NewMessage("keep", "news", {}), now=T0 + timedelta(days=10))
        assert await storage.cleanup_messages(older_than=T0 + timedelta(days=7)) == 1
        again, _ = await storage.publish(NewMessage("ce-2", "news", {"n": 2}), now=T0 + timedelta(days=10))
        assert again.seq > first.seq and again.data == {"n": 2}

    async def test_mode_conflict_is_rejected_and_writes_nothing(self, storage: Any) -> None:
        await storage.create_instance(new_instance("a"))
        await storage.create_instance(new_instance("b"))
        await storage.commit_step(step("a", subscriptions=(Subscribe("ch", "competing"),)))
        with pytest.raises(ChannelModeConflictError, match="'competing'"):
            await storage.commit_step(
                step("b", history=(completed("x:1"),), subscriptions=(Subscribe("ch", "broadcast"),))
            )
        assert await storage.get_history("b") == []
        await storage.commit_step(step("b", subscriptions=(Subscribe("ch", None),)))  # adopts competing

    async def test_messages_in_commit_step_wake_receivers(self, storage: Any) -> None:
        assert await self._waiting_receiver(storage, "r", "events") is None
        await storage.create_instance(new_instance("p"))
        outcome = await storage.commit_step(step("p", messages=(NewMessage("m", "events", b"\x00bin"),)))
        assert outcome.woken == ("r",)
        await storage.claim_instance("r", worker_id=WORKER, now=T0, lease_expires_at=T0 + timedelta(30))
        got = await storage.receive_or_wait(step("r", epoch=2), channel="events", step_id="r:2", wait=None)
        assert got is not None and got.data == b"\x00bin"
        entry = (await storage.get_history("r"))[-1]
        assert entry.payload == b"\x00bin" and entry.event_data["data_encoding"] == "bytes"

    async def test_finished_instances_lose_their_subscriptions(self, storage: Any) -> None:
        assert await self._waiting_receiver(storage, "r", "ch") is None
        await storage.claim_instance("r", worker_id=WORKER, now=T0, lease_expires_at=T0 + timedelta(30))
        await storage.commit_step(step("r", epoch=2, update=InstanceUpdate(status="completed", release_lease=True)))
        _, woken = await storage.publish(NewMessage("m", "ch", {}), now=T0)
        assert woken == ()

    async def test_unsubscribe(self, storage: Any) -> None:
        assert await self._waiting_receiver(storage, "r", "ch") is None
        await storage.claim_instance("r", worker_id=WORKER, now=T0, lease_expires_at=T0 + timedelta(30))
        await storage.commit_step(step("r", epoch=2, subscriptions=(Unsubscribe("ch"),)))
        _, woken = await storage.publish(NewMessage("m", "ch", {}), now=T0)
        assert woken == ()

    async def test_cleanup_keeps_undelivered_messages(self, storage: Any) -> None:
        assert await self._waiting_receiver(storage, "c", "jobs", "competing") is None
        await storage.publish(NewMessage("old-unclaimed", "jobs", {}), now=T0)
        await storage.publish(NewMessage("old-claimed", "jobs", {}), now=T0)
        await storage.claim_instance("c", worker_id=WORKER, now=T0, lease_expires_at=T0 + timedelta(30))
        got = await storage.receive_or_wait(step("c", epoch=2), channel="jobs", step_id="r:2", wait=None)
        assert got.message_id == "old-unclaimed"
        await storage.publish(NewMessage("new", "jobs", {}), now=T0 + timedelta(days=10))
        removed = await storage.cleanup_messages(older_than=T0 + timedelta(days=7))
        assert removed == 1  # only the delivered old one
        got = await storage.receive_or_wait(step("c", epoch=2), channel="jobs", step_id="r:3", wait=None)
        assert got.message_id == "old-claimed"  # still there: it had not been delivered

    async def test_cleanup_expires_messages_nobody_can_take(self, storage: Any) -> None:
        # Events addressed to an unknown or finished instance would otherwise be kept for ever (anyone who can POST
        # an event can address one to a made-up id); to a live instance they wait for it, however long it takes.
        await storage.create_instance(new_instance("live"))
        await storage.create_instance(new_instance("done"))
        await storage.commit_step(step("done", update=InstanceUpdate(status="completed", release_lease=True)))
        old, new = T0, T0 + timedelta(days=10)
        for target in ("nobody", "done", "live"):
            await storage.publish(NewMessage(f"old-{target}", "paid", {}, target_instance_id=target), now=old)
            await storage.publish(NewMessage(f"new-{target}", "paid", {}, target_instance_id=target), now=new)
        removed = await storage.cleanup_messages(older_than=T0 + timedelta(days=7))
        assert removed == 2  # old-nobody and old-done
        await storage.create_instance(new_instance("nobody", now=new))  # the id exists now: its new message waits
        assert await storage.cleanup_messages(older_than=new + timedelta(days=7)) == 1  # new-done
        taken = []
        for iid in ("live", "nobody"):
            for n in range(3):
                got = await storage.receive_or_wait(step(iid), channel="paid", step_id=f"r:{n}", wait=None)
                taken += [got.message_id] if got is not None else []
        assert taken == ["old-live", "new-live", "new-nobody"]
