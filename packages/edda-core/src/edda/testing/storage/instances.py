"""Conformance tests for :class:`edda.storage.protocol.InstanceStore`: creating, reading, finding and cancelling
instances."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from edda.storage.records import (
    InstanceQuery,
    InstanceUpdate,
)
from edda.testing.storage._helpers import OTHER, T0, WORKER, completed, new_instance, step

__all__ = ["InstanceStoreConformance"]


@pytest.mark.asyncio
class InstanceStoreConformance:
    """Contract tests for :class:`~edda.storage.protocol.InstanceStore`. Subclasses provide the ``storage`` fixture."""

    async def test_create_and_get_instance(self, storage: Any) -> None:
        record, created = await storage.create_instance(new_instance(input_data={"order_id": "A-1", "n": 3}))
        assert created is True
        got = await storage.get_instance("i-1")
        assert got is not None
        assert got == record
        assert got.workflow_name == "wf"
        assert got.status == "running"
        assert got.input_data == {"order_id": "A-1", "n": 3}
        assert got.owner_id == WORKER and got.lease_epoch == 1
        assert got.created_at == T0 and got.created_at.tzinfo is not None
        assert got["status"] == "running" and got.get("output_data") is None  # dict-style access
        assert await storage.get_instance("missing") is None

    async def test_create_is_idempotent(self, storage: Any) -> None:
        await storage.create_instance(new_instance(input_data={"v": 1}))
        again, created = await storage.create_instance(new_instance(input_data={"v": 2}, owner=OTHER))
        assert created is False
        assert again.input_data == {"v": 1} and again.owner_id == WORKER

    async def test_timestamps_keep_microseconds_and_utc(self, storage: Any) -> None:
        await storage.create_instance(new_instance())
        later = T0 + timedelta(microseconds=7)
        await storage.commit_step(step(now=later, update=InstanceUpdate(status="completed", completed_at=later)))
        got = await storage.get_instance("i-1")
        assert got.completed_at == later and got.updated_at == later
        assert got.completed_at.utcoffset() == timedelta(0)

    async def test_request_cancel_leaves_finished_and_missing(self, storage: Any) -> None:
        await storage.create_instance(new_instance())
        await storage.commit_step(step(update=InstanceUpdate(status="completed", release_lease=True)))
        after = await storage.request_cancel("i-1", now=T0)
        assert after is not None and after.status == "completed" and after.cancel_requested is False
        assert await storage.request_cancel("missing", now=T0) is None

    async def test_reopen_instance_makes_only_a_failed_instance_runnable(self, storage: Any) -> None:
        await storage.create_instance(new_instance())
        await storage.commit_step(step(history=(completed("a:1"),)))
        error = {"error_type": "NonDeterminismError", "message": "diverged"}
        failed_at = T0 + timedelta(seconds=1)
        await storage.commit_step(
            step(now=failed_at, update=InstanceUpdate(status="failed", error=error, completed_at=failed_at))
        )
        later = T0 + timedelta(seconds=2)
        assert await storage.reopen_instance("i-1", now=later) is True
        got = await storage.get_instance("i-1")
        assert (got.status, got.error, got.completed_at, got.owner_id) == ("running", None, None, None)
        assert got.updated_at == later
        assert [e.activity_id for e in await storage.get_history("i-1")] == ["a:1"]  # the history is kept
        claimed = await storage.claim_instance(
            "i-1", worker_id=OTHER, now=later, lease_expires_at=later + timedelta(seconds=30)
        )
        assert claimed is not None and claimed.owner_id == OTHER
        assert await storage.reopen_instance("i-1", now=later) is False  # running: nothing to reopen
        assert await storage.reopen_instance("missing", now=later) is False

    # -- find_instances -----------------------------------------------------------------------------------------

    async def _seed_many(self, storage: Any) -> None:
        for i in range(7):
            await storage.create_instance(
                new_instance(
                    f"order-{i}",
                    name="order_workflow" if i % 2 == 0 else "refund_workflow",
                    input_data={"customer": {"id": f"C{i % 3}"}, "n": i, "vip": i == 3},
                    now=T0 + timedelta(minutes=i),
                )
            )

    async def test_find_instances_filters(self, storage: Any) -> None:
        await self._seed_many(storage)
        page = await storage.find_instances(InstanceQuery(workflow_name="ORDER_w"))
        assert [r.instance_id for r in page.instances] == ["order-6", "order-4", "order-2", "order-0"]
        page = await storage.find_instances(InstanceQuery(input_filters=(("customer.id", "C1"),)))
        assert {r.instance_id for r in page.instances} == {"order-1", "order-4"}
        page = await storage.find_instances(InstanceQuery(input_filters=(("n", 5),)))
        assert [r.instance_id for r in page.instances] == ["order-5"]
        page = await storage.find_instances(InstanceQuery(input_filters=(("vip", True),)))
        assert [r.instance_id for r in page.instances] == ["order-3"]
        page = await storage.find_instances(InstanceQuery(input_filters=(("n", "5"),)))
        assert page.instances == []  # the string "5" is not the number 5
        page = await storage.find_instances(
            InstanceQuery(started_after=T0 + timedelta(minutes=2), started_before=T0 + timedelta(minutes=4))
        )
        assert [r.instance_id for r in page.instances] == ["order-4", "order-3", "order-2"]
        page = await storage.find_instances(InstanceQuery(instance_id="DER-1"))
        assert [r.instance_id for r in page.instances] == ["order-1"]

    async def test_find_instances_status(self, storage: Any) -> None:
        await self._seed_many(storage)
        await storage.commit_step(step("order-2", update=InstanceUpdate(status="completed", release_lease=True)))
        page = await storage.find_instances(InstanceQuery(status="completed"))
        assert [r.instance_id for r in page.instances] == ["order-2"]

    async def test_find_instances_pages(self, storage: Any) -> None:
        await self._seed_many(storage)
        seen: list[str] = []
        cursor = None
        for _ in range(10):
            page = await storage.find_instances(InstanceQuery(limit=3, cursor=cursor))
            seen += [r.instance_id for r in page.instances]
            cursor = page.next_cursor
            if cursor is None:
                break
        assert seen == [f"order-{i}" for i in range(6, -1, -1)]

    async def test_find_instances_treats_wildcards_and_quotes_literally(self, storage: Any) -> None:
        await self._seed_many(storage)
        await storage.create_instance(
            new_instance("odd'%_id", name="wf%'; DROP TABLE x; --", input_data={"q": 'it\'s "quoted" %_'})
        )
        for q in (
            InstanceQuery(workflow_name="%"),
            InstanceQuery(instance_id="_"),
            InstanceQuery(workflow_name="'; DROP"),
        ):
            page = await storage.find_instances(q)
            assert [r.instance_id for r in page.instances] == ["odd'%_id"]
        page = await storage.find_instances(InstanceQuery(input_filters=(("q", 'it\'s "quoted" %_'),)))
        assert [r.instance_id for r in page.instances] == ["odd'%_id"]
        assert len((await storage.find_instances(InstanceQuery(limit=100))).instances) == 8
