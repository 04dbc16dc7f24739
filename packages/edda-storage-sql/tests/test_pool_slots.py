"""The connection slots of PostgreSQL/MySQL storage: claims go ahead of the queue, and no slot is ever lost."""

from __future__ import annotations

import asyncio

from edda_storage_sql._pool import _Slots


async def test_urgent_waiters_are_served_before_earlier_ones() -> None:
    slots = _Slots(1)
    await slots.acquire()
    order: list[str] = []

    async def user(name: str, urgent: bool) -> None:
        await slots.acquire(urgent)
        order.append(name)
        await asyncio.sleep(0)
        slots.release()

    tasks = [asyncio.create_task(user("read-1", False)), asyncio.create_task(user("read-2", False))]
    await asyncio.sleep(0)
    tasks.append(asyncio.create_task(user("claim", True)))
    await asyncio.sleep(0)
    slots.release()
    await asyncio.gather(*tasks)
    assert order == ["claim", "read-1", "read-2"]


async def test_cancelled_waiters_never_lose_a_slot() -> None:
    slots = _Slots(2)
    await slots.acquire()
    await slots.acquire()  # both slots held
    w0 = asyncio.create_task(slots.acquire(urgent=True))
    w1, w2, w3 = (asyncio.create_task(slots.acquire()) for _ in range(3))
    await asyncio.sleep(0)
    w1.cancel()  # cancelled while queued
    await asyncio.gather(w1, return_exceptions=True)
    slots.release()  # hands the slot to w0 ...
    w0.cancel()  # ... cancelled before it could run: the slot passes on to w2 (w1 is gone)
    await asyncio.gather(w0, return_exceptions=True)
    await asyncio.wait_for(w2, 1)
    assert not w3.done()
    slots.release()  # the second original holder: w3 gets it
    await asyncio.wait_for(w3, 1)
    slots.release()  # w2
    slots.release()  # w3
    # Both slots are free again: two acquisitions succeed at once, a third waits.
    await asyncio.wait_for(slots.acquire(), 0.1)
    await asyncio.wait_for(slots.acquire(urgent=True), 0.1)
    third = asyncio.create_task(slots.acquire())
    await asyncio.sleep(0.01)
    assert not third.done()
    third.cancel()


async def test_steps_of_runs_go_before_other_operations_without_starving_them() -> None:
    slots = _Slots(1)
    await slots.acquire()
    order: list[str] = []

    async def user(name: str, *, urgent: bool = False, step: bool = False) -> None:
        await slots.acquire(urgent, step=step)
        order.append(name)
        await asyncio.sleep(0)
        slots.release()

    tasks = [asyncio.create_task(user(f"create-{k}")) for k in range(3)]  # a burst of start()s queued first
    await asyncio.sleep(0)
    tasks += [asyncio.create_task(user(f"step-{k}", step=True)) for k in range(5)]  # then the runs' commits
    await asyncio.sleep(0)
    tasks.append(asyncio.create_task(user("claim", urgent=True)))
    await asyncio.sleep(0)
    slots.release()
    await asyncio.gather(*tasks)
    # The claim first, then steps, but never more than three in a row while the others wait.
    assert order == [
        "claim",
        "step-0",
        "step-1",
        "step-2",
        "create-0",
        "step-3",
        "step-4",
        "create-1",
        "create-2",
    ]
