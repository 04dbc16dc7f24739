"""Conformance tests for the optional capabilities of :mod:`edda.storage.protocol`: :class:`HistoryBatchReader`,
:class:`WakeSource` and :class:`WakeAnnouncer`.

A storage that does not implement one (``isinstance`` is false) has its tests skipped, saying which.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from edda.storage.protocol import HistoryBatchReader, InstanceBatchReader, WakeAnnouncer, WakeSource
from edda.storage.records import InstanceUpdate
from edda.testing.storage._helpers import completed, new_instance, step

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
