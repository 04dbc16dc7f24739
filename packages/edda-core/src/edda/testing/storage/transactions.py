"""Conformance tests for :class:`edda.storage.protocol.TransactionManager` and
:class:`~edda.storage.protocol.Transaction`: ``commit_step(tx=...)``, rollback and savepoints."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from edda.exceptions import LeaseLostError
from edda.storage.records import (
    NewOutboxEvent,
)
from edda.testing.storage._helpers import OTHER, T0, completed, new_instance, step

__all__ = ["TransactionManagerConformance"]


@pytest.mark.asyncio
class TransactionManagerConformance:
    """Contract tests for :class:`~edda.storage.protocol.TransactionManager` and the transactions it begins.
    Subclasses provide the ``storage`` fixture."""

    async def test_transaction_commits_step_on_exit(self, storage: Any) -> None:
        await storage.create_instance(new_instance())
        async with storage.transaction() as tx:
            await storage.commit_step(step(history=(completed("a:1", 1),)), tx=tx)
        assert len(await storage.get_history("i-1")) == 1

    async def test_transaction_rollback_writes_nothing(self, storage: Any) -> None:
        await storage.create_instance(new_instance())
        with pytest.raises(RuntimeError, match="boom"):
            async with storage.transaction() as tx:
                await storage.commit_step(
                    step(history=(completed("a:1", 1),), outbox=(NewOutboxEvent("e1", "t", "s", {"a": 1}),)), tx=tx
                )
                raise RuntimeError("boom")
        assert await storage.get_history("i-1") == []
        assert await storage.list_outbox() == []

    async def test_savepoint_rolls_back_alone(self, storage: Any) -> None:
        await storage.create_instance(new_instance())
        async with storage.transaction() as tx:
            await storage.commit_step(step(history=(completed("a:1", 1),)), tx=tx)
            with pytest.raises(ValueError):
                async with tx.savepoint():
                    await storage.commit_step(step(history=(completed("b:1", 2),)), tx=tx)
                    raise ValueError("inner")
        assert [h.activity_id for h in await storage.get_history("i-1")] == ["a:1"]

    async def test_begin_commit_and_rollback(self, storage: Any) -> None:
        await storage.create_instance(new_instance())
        tx = storage.begin()  # no I/O yet
        await storage.commit_step(step(history=(completed("a:1", 1),)), tx=tx)
        await tx.rollback()
        assert await storage.get_history("i-1") == []
        tx = storage.begin()
        await storage.commit_step(step(history=(completed("a:1", 2),)), tx=tx)
        await tx.commit()
        assert [h.event_data["result"] for h in await storage.get_history("i-1")] == [2]

    async def test_fence_checked_inside_transaction(self, storage: Any) -> None:
        await storage.create_instance(new_instance(lease=0))
        later = T0 + timedelta(seconds=1)
        await storage.claim_instance("i-1", worker_id=OTHER, now=later, lease_expires_at=later + timedelta(seconds=30))
        tx = storage.begin()
        with pytest.raises(LeaseLostError):
            await storage.commit_step(step(history=(completed("a:1"),)), tx=tx)
            await tx.commit()
        await tx.rollback()
        assert await storage.get_history("i-1") == []

    async def test_session_matches_capability(self, storage: Any) -> None:
        async with storage.transaction() as tx:
            if storage.capabilities.sessions:
                assert tx.session is not None
            else:
                with pytest.raises(RuntimeError, match="session"):
                    _ = tx.session
