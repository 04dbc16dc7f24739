"""Conformance tests for :class:`edda.storage.protocol.WorkerRegistry`: the next wake-up time."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from edda.storage.records import (
    InstanceUpdate,
)
from edda.testing.storage._helpers import T0, new_instance, step

__all__ = ["WorkerRegistryConformance"]


@pytest.mark.asyncio
class WorkerRegistryConformance:
    """Contract tests for :class:`~edda.storage.protocol.WorkerRegistry`. Subclasses provide the ``storage`` fixture."""

    async def test_next_wake_at(self, storage: Any) -> None:
        assert await storage.next_wake_at() is None
        await storage.create_instance(new_instance("t1"))
        await storage.commit_step(
            step(
                "t1",
                update=InstanceUpdate(
                    status="waiting_for_timer", wake_at=T0 + timedelta(seconds=5), release_lease=True
                ),
            )
        )
        await storage.create_instance(new_instance("t2"))
        await storage.commit_step(
            step(
                "t2",
                update=InstanceUpdate(
                    status="waiting_for_timer", wake_at=T0 + timedelta(seconds=3), release_lease=True
                ),
            )
        )
        assert await storage.next_wake_at() == T0 + timedelta(seconds=3)
