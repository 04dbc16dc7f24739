"""wait_for_result: how often the app reads awaited instances that it has not seen finish.

A run of the app's own worker resolves the waits at once. Polls find what another process finished: a client app
(``run_workflows=False``) polls from 10 ms, backing off; an app that runs workflows on a single-process storage
(SQLite, memory), where no other process can finish an instance, polls only as a safety net, every 0.5 s.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from edda import EddaApp, WorkflowContext, wait_event, workflow
from edda.storage.memory import InMemoryStorage
from edda.storage.records import InstanceRecord


class CountingStorage(InMemoryStorage):
    """The in-memory storage, counting the batch reads of the result poller."""

    def __init__(self) -> None:
        super().__init__()
        self.polls = 0

    async def get_instances(self, instance_ids: Sequence[str]) -> dict[str, InstanceRecord]:
        self.polls += 1
        return await super().get_instances(instance_ids)


@workflow
async def polled_until_told(ctx: WorkflowContext, order: str) -> str:
    await wait_event(ctx, f"polls.go.{order}")
    return f"done {order}"


async def test_an_app_that_runs_its_workflows_alone_does_not_poll_what_it_will_see_finish() -> None:
    storage = CountingStorage()
    async with EddaApp(service_name="polls", storage=storage) as app:
        iid = await polled_until_told.start(order="a")
        with pytest.raises(TimeoutError):
            await app.wait_for_result(iid, timeout=0.35)
        assert storage.polls == 0  # before: reads at 10, 30, 70, 150 and 310 ms
        waiting = asyncio.ensure_future(app.wait_for_result(iid, timeout=10))
        await asyncio.sleep(0.05)
        await app.handle_cloudevent({"type": "polls.go.a", "source": "test", "id": "e-a", "data": {}})
        assert await waiting == "done a"  # the local run resolved it, not a poll


async def test_a_client_app_polls_soon_for_what_a_worker_finishes() -> None:
    storage = CountingStorage()
    async with (
        EddaApp(service_name="polls", storage=storage) as worker_app,
        EddaApp(service_name="polls", storage=storage, run_workflows=False) as client,
    ):
        iid = await polled_until_told.start(order="b")
        waiting = asyncio.ensure_future(client.wait_for_result(iid, timeout=10))
        await asyncio.sleep(0.35)
        assert storage.polls >= 3  # 10 ms, then doubling: the client cannot see the worker's runs
        await worker_app.handle_cloudevent({"type": "polls.go.b", "source": "test", "id": "e-b", "data": {}})
        assert await waiting == "done b"
