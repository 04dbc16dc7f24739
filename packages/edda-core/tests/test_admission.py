"""Admission: a worker executes a bounded number of runs at once; the rest wait their turn, first come first served.

A run lends its slot while it waits for slow user code (an activity's body, a retry's backoff, a result awaited in
workflow code) and takes it back ahead of the queue, so slow bodies never hold other runs back and nothing can
deadlock on the limit.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from edda import EddaApp, WorkflowContext, activity, workflow
from edda._admission import ACTIVE_RUNS, LEND_AFTER_SECONDS, Admission, current_slot, lending
from edda._app import current_app
from edda.hooks import HooksBase

# -- the gate on its own ------------------------------------------------------------------------------------------


async def test_runs_beyond_the_limit_wait_and_enter_in_order() -> None:
    gate = Admission(2)
    first, second = await gate.enter(), await gate.enter()
    entered: list[int] = []

    async def later(k: int) -> None:
        slot = await gate.enter()
        entered.append(k)
        slot.close()

    waiting = [asyncio.ensure_future(later(k)) for k in range(3)]
    await asyncio.sleep(0.01)
    assert entered == [] and gate.active == 2 and gate.waiting == 3
    first.close()
    first.close()  # idempotent: a second close gives nothing back twice
    await asyncio.gather(*waiting)
    assert entered == [0, 1, 2] and gate.active == 1
    second.close()
    assert gate.active == 0


async def test_a_cancelled_waiter_takes_no_slot() -> None:
    gate = Admission(1)
    held = await gate.enter()
    waiter = asyncio.ensure_future(gate.enter())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    held.close()
    assert gate.active == 0 and gate.waiting == 0
    again = await asyncio.wait_for(gate.enter(), 1)
    assert gate.active == 1
    again.close()


async def test_a_slot_is_lent_only_while_user_code_takes_long() -> None:
    gate = Admission(1)
    slot = await gate.enter()
    token = current_slot.set(slot)
    try:
        other = asyncio.ensure_future(gate.enter())
        with lending():  # returns at once: the slot is kept, nobody else enters
            await asyncio.sleep(0)
        await asyncio.sleep(LEND_AFTER_SECONDS * 2)
        assert not other.done()
        with lending():  # takes long: lent after LEND_AFTER_SECONDS
            await asyncio.sleep(LEND_AFTER_SECONDS * 3)
            assert other.done() and gate.active == 1
        assert gate.active == 2  # taken back ahead of the queue, above the limit for a while
        (await other).close()
        assert gate.active == 1
    finally:
        current_slot.reset(token)
        slot.close()
    assert gate.active == 0


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Admission(0)


# -- in the worker ------------------------------------------------------------------------------------------------


class _Concurrency(HooksBase):
    """The number of runs between their start and end hooks, and its maximum."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0

    async def on_workflow_run_start(self, instance_id: str, workflow_name: str, trace: Any) -> None:
        self.now += 1
        self.most = max(self.most, self.now)

    async def on_workflow_run_end(self, instance_id: str, workflow_name: str, outcome: Any) -> None:
        self.now -= 1


@activity
async def admission_quick(ctx: WorkflowContext, k: int) -> int:
    return k * 2


@workflow
async def admission_burst(ctx: WorkflowContext, k: int) -> int:
    first = await admission_quick(ctx, k)
    return first + await admission_quick(ctx, k + 1)


async def test_a_burst_of_starts_runs_a_bounded_number_at_once(tmp_path: Path) -> None:
    count = ACTIVE_RUNS * 4
    hooks = _Concurrency()
    async with EddaApp(service_name="admission", db_url=f"sqlite:///{tmp_path / 'a.db'}", hooks=hooks) as app:
        ids = await asyncio.gather(*(admission_burst.start(k=k) for k in range(count)))
        results = await asyncio.gather(*(app.wait_for_result(iid, timeout=60) for iid in ids))
    assert results == [k * 2 + (k + 1) * 2 for k in range(count)]
    assert hooks.most <= ACTIVE_RUNS  # all 256 at once before admission
    assert hooks.most >= 16  # and still many at once: their commits group


_ARRIVED: dict[str, int] = {}
_ALL_HERE: dict[str, asyncio.Event] = {}


@activity
async def admission_meet(ctx: WorkflowContext, group: str, size: int) -> str:
    _ARRIVED[group] = _ARRIVED.get(group, 0) + 1
    if _ARRIVED[group] == size:
        _ALL_HERE[group].set()
    await asyncio.wait_for(_ALL_HERE[group].wait(), timeout=20)  # only if every body runs at the same time
    return "met"


@workflow
async def admission_meeting(ctx: WorkflowContext, group: str, size: int) -> str:
    return await admission_meet(ctx, group, size)


async def test_slow_activity_bodies_do_not_hold_other_runs_back(tmp_path: Path) -> None:
    size = ACTIVE_RUNS + 36  # more bodies than slots must be in progress at once
    _ALL_HERE["slow"] = asyncio.Event()
    async with EddaApp(service_name="admission", db_url=f"sqlite:///{tmp_path / 'b.db'}") as app:
        ids = await asyncio.gather(*(admission_meeting.start(group="slow", size=size) for _ in range(size)))
        results = await asyncio.gather(*(app.wait_for_result(iid, timeout=30) for iid in ids))
    assert results == ["met"] * size and _ARRIVED["slow"] == size


@workflow
async def admission_child(ctx: WorkflowContext, k: int) -> int:
    return await admission_quick(ctx, k)


@workflow
async def admission_parent(ctx: WorkflowContext, k: int) -> int:
    # Not the durable way to wait for another workflow, but users write it: the parent's slot must not wait with it.
    app = current_app()
    child = await admission_child.start(k=k)
    return int(await app.wait_for_result(child, timeout=20)) + 1


async def test_a_run_awaiting_a_result_in_workflow_code_lends_its_slot(tmp_path: Path) -> None:
    async with EddaApp(service_name="admission", db_url=f"sqlite:///{tmp_path / 'c.db'}") as app:
        app.worker.admission = Admission(2)  # parents take every slot; their children need one
        ids = await asyncio.gather(*(admission_parent.start(k=k) for k in range(4)))
        results = await asyncio.gather(*(app.wait_for_result(iid, timeout=30) for iid in ids))
    assert results == [k * 2 + 1 for k in range(4)]
