"""How many instances a recovery pass claims: ``max_workflows_per_batch`` fixed, or "auto" following the backlog."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import pytest

from edda import EddaApp, WorkflowContext, sleep, workflow
from edda.storage.memory import InMemoryStorage
from edda.storage.records import HistoryEvent, InstanceRecord
from edda.testing import FakeClock


class _RecordingStorage(InMemoryStorage):
    def __init__(self) -> None:
        super().__init__()
        self.passes: list[tuple[int, int]] = []  # (limit asked for, instances claimed)
        self.single_reads = 0
        self.batch_reads: list[int] = []

    async def get_history(self, instance_id: str, *, iteration: int | None = None) -> list[HistoryEvent]:
        self.single_reads += 1
        return await super().get_history(instance_id, iteration=iteration)

    async def get_histories(self, instance_ids: Sequence[str]) -> dict[str, list[HistoryEvent]]:
        self.batch_reads.append(len(instance_ids))
        return await super().get_histories(instance_ids)

    async def claim_runnable_of(
        self, workflow_names: Collection[str], *, worker_id: str, now: datetime, lease_expires_at: datetime, limit: int
    ) -> list[InstanceRecord]:
        claimed = await super().claim_runnable_of(
            workflow_names, worker_id=worker_id, now=now, lease_expires_at=lease_expires_at, limit=limit
        )
        self.passes.append((limit, len(claimed)))
        return claimed


@workflow
async def batch_sleeper(ctx: WorkflowContext, n: int) -> int:
    await sleep(ctx, 60)
    return n


async def _burst_of_due_timers(batch: Any, count: int) -> tuple[list[tuple[int, int]], _RecordingStorage]:
    """Park ``count`` sleepers, let all their timers come due at once, and return the passes that claimed them."""
    storage, clock = _RecordingStorage(), FakeClock()
    async with EddaApp(
        service_name="t", storage=storage, clock=clock, recovery_interval=0.02, max_workflows_per_batch=batch
    ) as app:
        ids = await asyncio.gather(*(batch_sleeper.start(n=i) for i in range(count)))
        for iid in ids:
            while (await app.get_instance(iid)).status != "waiting_for_timer":  # type: ignore[union-attr]
                await asyncio.sleep(0.001)
        storage.passes.clear()
        storage.single_reads, storage.batch_reads = 0, []
        clock.advance(61)
        results = [await app.wait_for_result(iid, timeout=20) for iid in ids]
        await asyncio.sleep(0.1)  # a few idle passes after the burst
    assert results == list(range(count))
    return list(storage.passes), storage


async def test_auto_batches_grow_with_a_backlog_and_shrink_after_it() -> None:
    passes, _ = await _burst_of_due_timers("auto", 250)
    limits = [limit for limit, _ in passes]
    first = limits.index(10)
    assert limits[first : first + 5] == [10, 20, 40, 80, 100], passes
    assert sum(claimed for _, claimed in passes) == 250
    assert passes[-1] == (10, 0), passes  # idle again: back to the small batch


@pytest.mark.parametrize("batch", [10, 25])
async def test_a_fixed_batch_size_is_kept(batch: int) -> None:
    passes, _ = await _burst_of_due_timers(batch, 120)
    assert {limit for limit, _ in passes} == {batch}
    assert max(claimed for _, claimed in passes) == batch
    assert sum(claimed for _, claimed in passes) == 120


async def test_a_claimed_batch_loads_its_histories_in_one_read() -> None:
    passes, storage = await _burst_of_due_timers(10, 100)
    full = sum(1 for _, claimed in passes if claimed >= 2)
    assert full >= 1 and len(storage.batch_reads) == full, (passes, storage.batch_reads)
    # every instance resumed from a batch of two or more was loaded by the batch read, not by a read of its own
    assert sum(storage.batch_reads) + storage.single_reads == 100, (storage.batch_reads, storage.single_reads)
