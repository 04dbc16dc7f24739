"""Conformance tests for the optional capabilities of :mod:`edda.storage.protocol`: :class:`HistoryBatchReader`,
:class:`InstanceBatchReader`, :class:`ClaimsByWorkflow`, :class:`WakeSource` and :class:`WakeAnnouncer`.

A storage that does not implement one (``isinstance`` is false) has its tests skipped, saying which.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from edda.storage.protocol import ClaimsByWorkflow, HistoryBatchReader, InstanceBatchReader, WakeAnnouncer, WakeSource
from edda.storage.records import InstanceUpdate
from edda.testing.storage._helpers import OTHER, T0, completed, new_instance, step

__all__ = ["OptionalCapabilitiesConformance"]


def _skip_unless(storage: Any, capability: type, method: str) -> None:
    if not isinstance(storage, capability):
        pytest.skip(f"{type(storage).__name__} is not a {capability.__name__} (it has no {method}, which is optional)")


@pytest.mark.asyncio
class OptionalCapabilitiesConformance:
    """Contract tests for the optional capabilities a storage implements. Subclasses provide the ``storage``
    fixture."""

    # -- HistoryBatchReader -------------------------------------------------------------------------------------

    async def test_histories_of_several_instances_in_one_read(self, storage: Any) -> None:
        _skip_unless(storage, HistoryBatchReader, "get_histories")
        for iid in ("i-1", "i-2", "i-3"):
            await storage.create_instance(new_instance(iid))
        await storage.commit_step(step("i-1", history=(completed("a:1", 1), completed("b:1", 2))))
        await storage.commit_step(step("i-2", history=(completed("a:1", "old"),)))
        await storage.commit_step(step("i-2", update=InstanceUpdate(iteration=1, input_data={"x": 2})))
        await storage.commit_step(step("i-2", history=(completed("a:1", "new"),)))
        got = await storage.get_histories(["i-2", "i-1", "i-3", "missing", "i-1"])
        assert set(got) <= {"i-1", "i-2", "i-3"}
        for iid in ("i-1", "i-2", "i-3"):  # exactly what get_history says, for each
            assert [(h.seq, h.activity_id, h.event_data) for h in got.get(iid, [])] == [
                (h.seq, h.activity_id, h.event_data) for h in await storage.get_history(iid)
            ]
        assert [h.event_data["result"] for h in got["i-2"]] == ["new"]  # the current iteration only
        assert [h.activity_id for h in got["i-1"]] == ["a:1", "b:1"]
        assert await storage.get_histories([]) == {}

    # -- InstanceBatchReader ------------------------------------------------------------------------------------

    async def test_instances_by_id_in_one_read(self, storage: Any) -> None:
        _skip_unless(storage, InstanceBatchReader, "get_instances")
        for iid in ("i-1", "i-2", "i-3"):
            await storage.create_instance(new_instance(iid))
        await storage.commit_step(step("i-2", update=InstanceUpdate(status="completed", output_data={"r": 2})))
        got = await storage.get_instances(["i-2", "i-1", "missing", "i-2"])
        assert sorted(got) == ["i-1", "i-2"]
        for iid in ("i-1", "i-2"):  # exactly what get_instance says, for each
            assert got[iid] == await storage.get_instance(iid)
        assert got["i-2"].status == "completed" and got["i-2"].output_data == {"r": 2}
        assert await storage.get_instances([]) == {}

    # -- ClaimsByWorkflow ----------------------------------------------------------------------------------------

    async def _two_services(self, storage: Any) -> None:
        """Runnable instances of two workflows (one lease lapsed, one due timer each), and a later timer of each."""
        for name in ("orders", "billing"):
            await storage.create_instance(new_instance(f"{name}-lapsed", name=name, lease=1))
            for which, due in (("due", 5), ("later", 3600)):
                iid = f"{name}-{which}"
                await storage.create_instance(new_instance(iid, name=name))
                wake = InstanceUpdate(
                    status="waiting_for_timer", wake_at=T0 + timedelta(seconds=due), release_lease=True
                )
                await storage.commit_step(step(iid, update=wake))

    async def test_claim_runnable_of_claims_only_the_named_workflows(self, storage: Any) -> None:
        _skip_unless(storage, ClaimsByWorkflow, "claim_runnable_of")
        await self._two_services(storage)
        now = T0 + timedelta(seconds=10)
        before = {iid: await storage.get_instance(iid) for iid in ("billing-lapsed", "billing-due")}
        claimed = await storage.claim_runnable_of(
            ["orders"], worker_id=OTHER, now=now, lease_expires_at=now + timedelta(seconds=30), limit=10
        )
        assert sorted(c.instance_id for c in claimed) == ["orders-due", "orders-lapsed"]
        assert all(c.owner_id == OTHER and c.workflow_name == "orders" for c in claimed)
        for iid, record in before.items():  # the other workflow's instances: neither claimed nor changed
            assert await storage.get_instance(iid) == record
        assert (
            await storage.claim_runnable_of(  # what is claimed stays claimed; nothing named: nothing claimed
                ["orders"], worker_id=OTHER, now=now, lease_expires_at=now, limit=10
            )
            == []
        )
        assert await storage.claim_runnable_of([], worker_id=OTHER, now=now, lease_expires_at=now, limit=10) == []
        both = await storage.claim_runnable_of(
            {"billing", "unknown"}, worker_id=OTHER, now=now, lease_expires_at=now + timedelta(seconds=30), limit=1
        )
        assert [c.instance_id for c in both] == ["billing-lapsed"]  # the limit, in claim_runnable's order
        assert (await storage.get_instance("billing-due")).owner_id is None

    async def test_next_wake_at_of_looks_at_the_named_workflows_only(self, storage: Any) -> None:
        _skip_unless(storage, ClaimsByWorkflow, "next_wake_at_of")
        await self._two_services(storage)
        assert await storage.next_wake_at_of(["orders", "billing"]) == T0 + timedelta(seconds=5)
        assert await storage.next_wake_at_of(["orders"]) == T0 + timedelta(seconds=5)
        assert await storage.next_wake_at_of(["unknown"]) is None
        assert await storage.next_wake_at_of([]) is None
        now = T0 + timedelta(seconds=10)
        await storage.claim_runnable_of(
            ["orders"], worker_id=OTHER, now=now, lease_expires_at=now + timedelta(seconds=30), limit=10
        )
        assert await storage.next_wake_at_of(["orders"]) == T0 + timedelta(seconds=3600)  # the due one is owned
        assert await storage.next_wake_at_of(["billing"]) == T0 + timedelta(seconds=5)
        assert await storage.next_wake_at() == T0 + timedelta(seconds=5)

    async def test_a_lone_string_of_names_is_refused(self, storage: Any) -> None:
        _skip_unless(storage, ClaimsByWorkflow, "claim_runnable_of")
        await self._two_services(storage)
        with pytest.raises(TypeError, match="collection of names"):
            await storage.claim_runnable_of("orders", worker_id=OTHER, now=T0, lease_expires_at=T0, limit=10)
        with pytest.raises(TypeError, match="collection of names"):
            await storage.next_wake_at_of("orders")

    # -- WakeSource ---------------------------------------------------------------------------------------------

    async def test_set_wake_callback_returns_at_once(self, storage: Any) -> None:
        _skip_unless(storage, WakeSource, "set_wake_callback")
        received: list[tuple[str, ...]] = []
        assert storage.set_wake_callback(received.append) is None  # a plain method, not a coroutine
        await asyncio.sleep(0.05)  # whatever it started in the background runs
        await storage.create_instance(new_instance())  # the storage keeps working while it listens
        await storage.commit_step(step(history=(completed("a:1", 1),)))
        assert [h.activity_id for h in await storage.get_history("i-1")] == ["a:1"]
        assert all(isinstance(ids, tuple) for ids in received)
        # the fixture's close() stops the listening

    # -- WakeAnnouncer ------------------------------------------------------------------------------------------

    async def test_announce_wake_returns_at_once_and_never_raises(self, storage: Any) -> None:
        _skip_unless(storage, WakeAnnouncer, "announce_wake")
        await storage.create_instance(new_instance())
        await storage.commit_step(step(update=InstanceUpdate(release_lease=True)))
        assert storage.announce_wake(("i-1",)) is None  # a plain method, not a coroutine; sends in the background
        assert storage.announce_wake(("missing", "i-1")) is None  # unknown ids are no error
        assert storage.announce_wake(()) is None  # nothing to announce
        await asyncio.sleep(0.05)
        assert (await storage.get_instance("i-1")).owner_id is None  # announcing changes nothing stored
        # the fixture's close() finishes or cancels what is still being sent
