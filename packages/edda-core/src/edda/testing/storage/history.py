"""Conformance tests for :class:`edda.storage.protocol.HistoryStore`: the order and iterations of an instance's
history."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from edda.storage.records import (
    HistoryEventType,
    InstanceUpdate,
)
from edda.testing.storage._helpers import T0, completed, new_instance, step

__all__ = ["HistoryStoreConformance"]


@pytest.mark.asyncio
class HistoryStoreConformance:
    """Contract tests for :class:`~edda.storage.protocol.HistoryStore`. Subclasses provide the ``storage`` fixture."""

    async def test_commit_step_appends_history_in_order(self, storage: Any) -> None:
        await storage.create_instance(new_instance())
        await storage.commit_step(step(history=(completed("a:1", {"v": 1}), completed("b:1", [1, 2]))))
        await storage.commit_step(step(history=(completed("a:2", "text"),)))
        history = await storage.get_history("i-1")
        assert [h.activity_id for h in history] == ["a:1", "b:1", "a:2"]
        assert [h.event_data["result"] for h in history] == [{"v": 1}, [1, 2], "text"]
        seqs = [h.seq for h in history]
        assert seqs == sorted(seqs) and len(set(seqs)) == 3
        assert history[0]["event_type"] == HistoryEventType.ACTIVITY_COMPLETED

    async def test_history_order_does_not_depend_on_clock(self, storage: Any) -> None:
        await storage.create_instance(new_instance())
        for i in range(5):  # same timestamp every time, and even going backwards
            await storage.commit_step(step(now=T0 - timedelta(seconds=i), history=(completed(f"s:{i}", i),)))
        assert [h.activity_id for h in await storage.get_history("i-1")] == [f"s:{i}" for i in range(5)]

    async def test_iterations_archive_history(self, storage: Any) -> None:
        await storage.create_instance(new_instance())
        await storage.commit_step(step(history=(completed("a:1", "old"),)))
        # the entries of the commit that recurs still belong to the old iteration
        await storage.commit_step(
            step(history=(completed("b:1", "last"),), update=InstanceUpdate(iteration=1, input_data={"x": 2}))
        )
        await storage.commit_step(step(history=(completed("a:1", "new"),)))
        assert [h.event_data["result"] for h in await storage.get_history("i-1")] == ["new"]
        archived = await storage.get_history("i-1", iteration=0)
        assert [h.event_data["result"] for h in archived] == ["old", "last"]
        got = await storage.get_instance("i-1")
        assert got.iteration == 1 and got.input_data == {"x": 2}
