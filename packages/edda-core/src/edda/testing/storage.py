"""The storage conformance kit: the contract every Edda storage backend must meet.

Subclass :class:`StorageConformance` in your backend's tests and provide an async ``storage`` fixture that yields an
initialized, empty storage::

    import pytest
    from edda.testing.storage import StorageConformance

    class TestMyStorage(StorageConformance):
        @pytest.fixture
        async def storage(self):
            s = MyStorage.from_url("mydb://...")
            await s.initialize()
            yield s
            await s.close()

Tests that need a capability the backend does not claim (``storage.capabilities``) are skipped.
Requires pytest and pytest-asyncio (``pip install "edda-core[testing]"``); pytest is imported only here.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from edda.exceptions import ChannelModeConflictError, LeaseLostError, PayloadTooLargeError
from edda.storage.records import (
    Fence,
    HistoryEventType,
    InstanceQuery,
    InstanceUpdate,
    NewHistoryEvent,
    NewInstance,
    NewMessage,
    NewOutboxEvent,
    StepCommit,
    Subscribe,
    Unsubscribe,
)

__all__ = ["StorageConformance"]

T0 = datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)
WORKER = "worker-a"
OTHER = "worker-b"


def new_instance(
    instance_id: str = "i-1",
    *,
    name: str = "wf",
    input_data: dict[str, Any] | None = None,
    now: datetime = T0,
    owner: str = WORKER,
    lease: float = 30,
) -> NewInstance:
    return NewInstance(
        instance_id=instance_id,
        workflow_name=name,
        input_data=input_data if input_data is not None else {"x": 1},
        owner_id=owner,
        now=now,
        lease_expires_at=now + timedelta(seconds=lease),
    )


def step(
    instance_id: str = "i-1",
    *,
    epoch: int = 1,
    worker: str = WORKER,
    now: datetime = T0,
    history: tuple[NewHistoryEvent, ...] = (),
    update: InstanceUpdate | None = None,
    outbox: tuple[NewOutboxEvent, ...] = (),
    messages: tuple[NewMessage, ...] = (),
    subscriptions: tuple[Subscribe | Unsubscribe, ...] = (),
) -> StepCommit:
    return StepCommit(
        fence=Fence(instance_id, worker, epoch),
        now=now,
        history=history,
        update=update,
        outbox=outbox,
        messages=messages,
        subscriptions=subscriptions,
    )


def completed(activity_id: str, result: Any = None, **extra: Any) -> NewHistoryEvent:
    return NewHistoryEvent(
        activity_id, HistoryEventType.ACTIVITY_COMPLETED, {"activity_name": activity_id.split(":")[0], "result": result, **extra}
    )


@pytest.mark.asyncio
class StorageConformance:
    """Contract tests for a storage backend. Subclasses provide the ``storage`` fixture."""

    # -- instances ----------------------------------------------------------------------------------------------

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

    # -- commit_step --------------------------------------------------------------------------------------------

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

    async def test_commit_step_updates_instance(self, storage: Any) -> None:
        await storage.create_instance(new_instance())
        wake = T0 + timedelta(seconds=60)
        await storage.commit_step(
            step(
                update=InstanceUpdate(
                    status="waiting_for_timer",
                    wake_at=wake,
                    wait={"kind": "timer", "id": "sleep:1"},
                    release_lease=True,
                )
            )
        )
        got = await storage.get_instance("i-1")
        assert got.status == "waiting_for_timer" and got.wake_at == wake
        assert got.wait == {"kind": "timer", "id": "sleep:1"}
        assert got.owner_id is None
        assert got.input_data == {"x": 1}  # untouched fields stay

    async def test_fence_rejects_stale_worker_and_writes_nothing(self, storage: Any) -> None:
        await storage.create_instance(new_instance(lease=1))
        later = T0 + timedelta(seconds=5)
        claimed = await storage.claim_instance(
            "i-1", worker_id=OTHER, now=later, lease_expires_at=later + timedelta(seconds=30)
        )
        assert claimed is not None and claimed.owner_id == OTHER and claimed.lease_epoch == 2
        with pytest.raises(LeaseLostError):
            await storage.commit_step(
                step(history=(completed("a:1", 1),), update=InstanceUpdate(status="completed", output_data=1))
            )
        assert await storage.get_history("i-1") == []
        assert (await storage.get_instance("i-1")).status == "running"
        await storage.commit_step(step(epoch=2, worker=OTHER, history=(completed("a:1", 2),)))
        assert [h.event_data["result"] for h in await storage.get_history("i-1")] == [2]

    async def test_fence_rejects_same_worker_with_old_epoch(self, storage: Any) -> None:
        await storage.create_instance(new_instance(lease=1))
        later = T0 + timedelta(seconds=5)
        await storage.claim_instance("i-1", worker_id=WORKER, now=later, lease_expires_at=later + timedelta(seconds=9))
        with pytest.raises(LeaseLostError):
            await storage.commit_step(step(epoch=1, history=(completed("a:1"),)))

    async def test_commit_step_on_missing_instance_is_lease_lost(self, storage: Any) -> None:
        with pytest.raises(LeaseLostError):
            await storage.commit_step(step("nope", history=(completed("a:1"),)))

    async def test_outcome_reports_cancel_request(self, storage: Any) -> None:
        await storage.create_instance(new_instance())
        assert (await storage.commit_step(step(history=(completed("a:1"),)))).cancel_requested is False
        flagged = await storage.request_cancel("i-1", now=T0)
        assert flagged is not None and flagged.cancel_requested is True
        assert (await storage.commit_step(step(history=(completed("a:2"),)))).cancel_requested is True

    async def test_request_cancel_leaves_finished_and_missing(self, storage: Any) -> None:
        await storage.create_instance(new_instance())
        await storage.commit_step(step(update=InstanceUpdate(status="completed", release_lease=True)))
        after = await storage.request_cancel("i-1", now=T0)
        assert after is not None and after.status == "completed" and after.cancel_requested is False
        assert await storage.request_cancel("missing", now=T0) is None

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

    async def test_histories_of_several_instances_in_one_read(self, storage: Any) -> None:
        if not callable(getattr(storage, "get_histories", None)):
            pytest.skip("this storage has no get_histories (optional)")
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

    # -- payloads -----------------------------------------------------------------------------------------------

    @pytest.mark.parametrize(
        "value",
        [
            "héllo wörld ✓ 日本語 🙂",
            {"nested": {"list": [1, 2.5, None, True, {"deep": ["x"]}], "empty": {}}},
            [],
            0,
            -1.25,
            None,
        ],
    )
    async def test_json_payload_round_trip(self, storage: Any, value: Any) -> None:
        await storage.create_instance(new_instance(input_data={"v": value}))
        await storage.commit_step(step(history=(completed("a:1", value),), update=InstanceUpdate(output_data=value)))
        assert (await storage.get_instance("i-1")).input_data == {"v": value}
        assert (await storage.get_history("i-1"))[0].event_data["result"] == value
        assert (await storage.get_instance("i-1")).output_data == value

    async def test_bytes_round_trip_as_bytes(self, storage: Any) -> None:
        blob = bytes(range(256)) * 4
        await storage.create_instance(new_instance())
        await storage.commit_step(
            step(
                history=(NewHistoryEvent("a:1", HistoryEventType.ACTIVITY_COMPLETED, {"result_encoding": "bytes"}, payload=blob),),
                update=InstanceUpdate(output_data=blob),
            )
        )
        assert (await storage.get_history("i-1"))[0].payload == blob
        out = (await storage.get_instance("i-1")).output_data
        assert isinstance(out, bytes) and out == blob

    async def test_five_megabyte_payload(self, storage: Any) -> None:
        limit = storage.capabilities.max_payload_bytes
        if limit is not None and limit < 6 * 1024 * 1024:
            pytest.skip("backend limit is below 6 MB")
        big_text = "ä" * (5 * 1024 * 1024 // 2)
        big_blob = bytes(range(256)) * (5 * 1024 * 1024 // 256)
        await storage.create_instance(new_instance())
        await storage.commit_step(
            step(
                history=(completed("a:1", big_text), NewHistoryEvent("b:1", HistoryEventType.ACTIVITY_COMPLETED, {}, payload=big_blob))
            )
        )
        history = await storage.get_history("i-1")
        assert history[0].event_data["result"] == big_text
        assert history[1].payload == big_blob

    async def test_payload_over_limit_is_rejected_and_writes_nothing(self, storage: Any) -> None:
        limit = storage.capabilities.max_payload_bytes
        if limit is None:
            pytest.skip("backend has no payload limit")
        await storage.create_instance(new_instance())
        with pytest.raises(PayloadTooLargeError):
            await storage.commit_step(step(history=(completed("a:1", "ok"), completed("b:1", "x" * (limit + 1)))))
        assert await storage.get_history("i-1") == []

    # -- leases -------------------------------------------------------------------------------------------------

    async def test_claim_respects_live_lease(self, storage: Any) -> None:
        await storage.create_instance(new_instance(lease=30))
        assert (
            await storage.claim_instance(
                "i-1", worker_id=OTHER, now=T0 + timedelta(seconds=1), lease_expires_at=T0 + timedelta(seconds=60)
            )
            is None
        )
        mine = await storage.claim_instance(
            "i-1", worker_id=WORKER, now=T0 + timedelta(seconds=1), lease_expires_at=T0 + timedelta(seconds=60)
        )
        assert mine is not None and mine.lease_epoch == 2
        assert await storage.claim_instance("missing", worker_id=WORKER, now=T0, lease_expires_at=T0) is None

    async def test_claim_skips_finished(self, storage: Any) -> None:
        await storage.create_instance(new_instance())
        await storage.commit_step(step(update=InstanceUpdate(status="failed", release_lease=True)))
        assert await storage.claim_instance("i-1", worker_id=OTHER, now=T0, lease_expires_at=T0) is None

    async def test_claim_runnable(self, storage: Any) -> None:
        soon = T0 + timedelta(seconds=10)
        await storage.create_instance(new_instance("live", lease=60))  # live lease: not runnable
        await storage.create_instance(new_instance("expired", lease=1))  # lease lapsed: runnable
        await storage.create_instance(new_instance("released"))  # released while running: runnable
        await storage.commit_step(step("released", update=InstanceUpdate(release_lease=True)))
        await storage.create_instance(new_instance("timer-due"))
        await storage.commit_step(
            step(
                "timer-due",
                update=InstanceUpdate(
                    status="waiting_for_timer", wake_at=soon - timedelta(seconds=1), release_lease=True
                ),
            )
        )
        await storage.create_instance(new_instance("timer-later"))
        await storage.commit_step(
            step(
                "timer-later",
                update=InstanceUpdate(
                    status="waiting_for_timer", wake_at=soon + timedelta(hours=1), release_lease=True
                ),
            )
        )
        await storage.create_instance(new_instance("waiting-event"))
        await storage.commit_step(
            step("waiting-event", update=InstanceUpdate(status="waiting_for_event", release_lease=True))
        )
        await storage.create_instance(new_instance("done"))
        await storage.commit_step(step("done", update=InstanceUpdate(status="completed", release_lease=True)))
        await storage.create_instance(new_instance("cancel-me"))
        await storage.commit_step(
            step("cancel-me", update=InstanceUpdate(status="waiting_for_event", release_lease=True))
        )
        await storage.request_cancel("cancel-me", now=T0)

        claimed = await storage.claim_runnable(
            worker_id=OTHER, now=soon, lease_expires_at=soon + timedelta(30), limit=10
        )
        assert {c.instance_id for c in claimed} == {"expired", "released", "timer-due", "cancel-me"}
        assert all(c.owner_id == OTHER for c in claimed)
        again = await storage.claim_runnable(worker_id=WORKER, now=soon, lease_expires_at=soon, limit=10)
        assert again == []

    async def test_claim_runnable_limit(self, storage: Any) -> None:
        for i in range(5):
            await storage.create_instance(new_instance(f"i-{i}", lease=0))
        first = await storage.claim_runnable(
            worker_id=OTHER, now=T0 + timedelta(seconds=1), lease_expires_at=T0 + timedelta(seconds=30), limit=3
        )
        assert len(first) == 3

    async def test_concurrent_claims_have_one_winner(self, storage: Any) -> None:
        await storage.create_instance(new_instance(lease=0))
        now = T0 + timedelta(seconds=1)
        results = await asyncio.gather(
            *(
                storage.claim_instance("i-1", worker_id=f"w{i}", now=now, lease_expires_at=now + timedelta(seconds=30))
                for i in range(8)
            )
        )
        winners = [r for r in results if r is not None]
        assert len(winners) == 1
        assert (await storage.get_instance("i-1")).owner_id == winners[0].owner_id

    async def test_renew_leases(self, storage: Any) -> None:
        await storage.create_instance(new_instance("a", lease=5))
        await storage.create_instance(new_instance("b", lease=5))
        until = T0 + timedelta(seconds=100)
        renewed = await storage.renew_leases(
            [Fence("a", WORKER, 1), Fence("b", WORKER, 7), Fence("c", WORKER, 1)], lease_expires_at=until
        )
        assert renewed == {"a"}
        assert (await storage.get_instance("a")).lease_expires_at == until

    async def test_release_foreign_leases(self, storage: Any) -> None:
        await storage.create_instance(new_instance("mine", owner=WORKER))
        await storage.create_instance(new_instance("theirs", owner=OTHER))
        assert await storage.release_foreign_leases(worker_id=WORKER) == 1
        assert (await storage.get_instance("theirs")).owner_id is None
        assert (await storage.get_instance("mine")).owner_id == WORKER

    # -- transactions -------------------------------------------------------------------------------------------

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

    # -- outbox -------------------------------------------------------------------------------------------------

    async def test_outbox_written_with_step(self, storage: Any) -> None:
        await storage.create_instance(new_instance())
        await storage.commit_step(
            step(
                history=(completed("a:1"),),
                outbox=(
                    NewOutboxEvent("e1", "order.created", "orders", {"id": 1}),
                    NewOutboxEvent("e2", "order.blob", "orders", b"\x00\x01", content_type="application/octet-stream"),
                ),
            )
        )
        events = await storage.list_outbox(status="pending")
        assert [e.event_id for e in events] == ["e1", "e2"]
        assert events[0].data == {"id": 1} and events[0].instance_id == "i-1"
        assert events[1].data == b"\x00\x01" and events[1].content_type == "application/octet-stream"

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

    # -- channels -----------------------------------------------------------------------------------------------

    async def _waiting_receiver(
        self, storage: Any, iid: str, channel: str, mode: str | None = "broadcast", now: datetime = T0
    ) -> Any:
        await storage.create_instance(new_instance(iid, now=now))
        subs = (Subscribe(channel, mode),) if mode is not None else ()
        got = await storage.receive_or_wait(
            StepCommit(fence=Fence(iid, WORKER, 1), now=now, subscriptions=subs),
            channel=channel,
            step_id="r:1",
            wait=InstanceUpdate(status="waiting_for_message", wait={"channel": channel}, release_lease=True),
        )
        return got

    async def test_receive_waits_then_publish_wakes(self, storage: Any) -> None:
        assert await self._waiting_receiver(storage, "r1", "jobs") is None
        waiting = await storage.get_instance("r1")
        assert waiting.status == "waiting_for_message" and waiting.owner_id is None and waiting.wake_at is None
        later = T0 + timedelta(seconds=1)
        record, woken = await storage.publish(NewMessage("m1", "jobs", {"task": 1}, {"source": "t"}), now=later)
        assert woken == ("r1",) and record.seq > 0 and record.data == {"task": 1}
        assert (await storage.get_instance("r1")).wake_at == later
        assert await storage.next_wake_at() == later
        claimed = await storage.claim_runnable(
            worker_id=OTHER, now=later, lease_expires_at=later + timedelta(30), limit=10
        )
        assert [c.instance_id for c in claimed] == ["r1"]
        got = await storage.receive_or_wait(
            StepCommit(fence=Fence("r1", OTHER, 2), now=later), channel="jobs", step_id="r:1", wait=None
        )
        assert got is not None and got.message_id == "m1" and got.metadata == {"source": "t"}
        entry = (await storage.get_history("r1"))[-1]
        assert (entry.activity_id, entry.event_type) == ("r:1", HistoryEventType.MESSAGE_RECEIVED)
        assert entry.event_data["data"] == {"task": 1} and entry.event_data["message_id"] == "m1"
        assert entry.event_data["channel"] == "jobs"

    async def test_broadcast_reaches_every_subscriber_after_subscribing(self, storage: Any) -> None:
        await storage.publish(NewMessage("before", "news", {"n": 0}), now=T0)
        for iid in ("a", "b"):
            assert await self._waiting_receiver(storage, iid, "news") is None
        _, woken = await storage.publish(NewMessage("m1", "news", {"n": 1}), now=T0)
        assert sorted(woken) == ["a", "b"]
        await storage.publish(NewMessage("m2", "news", {"n": 2}), now=T0)
        for iid in ("a", "b"):
            await storage.claim_instance(iid, worker_id=WORKER, now=T0, lease_expires_at=T0 + timedelta(30))
            got = []
            for n in range(3):
                msg = await storage.receive_or_wait(
                    StepCommit(fence=Fence(iid, WORKER, 2), now=T0), channel="news", step_id=f"r:{n + 2}", wait=None
                )
                got.append(msg.message_id if msg else None)
            assert got == ["m1", "m2", None]  # not "before": published before subscribing

    async def test_a_new_subscription_reads_from_the_instance_start(self, storage: Any) -> None:
        # A broadcast message published after the instance was created, but before it first waits on the channel,
        # is not lost: a subscription made at the wait (or by subscribe()) starts at the instance's start.
        await storage.publish(NewMessage("before", "paid", {"n": 0}), now=T0)
        for iid in ("w", "s"):
            await storage.create_instance(new_instance(iid))
        await storage.publish(NewMessage("early", "paid", {"n": 1}), now=T0)
        got = await storage.receive_or_wait(step("w"), channel="paid", step_id="r:1", wait=None)
        assert got is not None and got.message_id == "early"
        await storage.commit_step(step("s", subscriptions=(Subscribe("paid", "broadcast"),)))
        got = await storage.receive_or_wait(step("s"), channel="paid", step_id="r:1", wait=None)
        assert got is not None and got.message_id == "early"
        assert await storage.receive_or_wait(step("s"), channel="paid", step_id="r:2", wait=None) is None

    async def test_unsubscribe_moves_where_a_later_subscription_starts(self, storage: Any) -> None:
        await storage.create_instance(new_instance("u"))
        await storage.publish(NewMessage("m1", "ch", {}), now=T0)
        got = await storage.receive_or_wait(step("u"), channel="ch", step_id="r:1", wait=None)
        assert got is not None and got.message_id == "m1"
        await storage.commit_step(step("u", subscriptions=(Unsubscribe("ch"),)))
        await storage.publish(NewMessage("m2", "ch", {}), now=T0)
        got = await storage.receive_or_wait(step("u"), channel="ch", step_id="r:2", wait=None)
        assert got is not None and got.message_id == "m2"  # not m1 again

    async def test_competing_delivers_each_message_once(self, storage: Any) -> None:
        await storage.publish(NewMessage("early", "work", {"n": 0}), now=T0)  # queued before any worker
        for iid in ("w1", "w2"):
            await storage.create_instance(new_instance(iid))
        await storage.commit_step(step("w1", subscriptions=(Subscribe("work", "competing"),)))
        await storage.commit_step(step("w2", subscriptions=(Subscribe("work", "competing"),)))
        await storage.publish(NewMessage("late", "work", {"n": 1}), now=T0)
        taken = []
        for _ in range(3):
            for iid in ("w1", "w2"):
                msg = await storage.receive_or_wait(step(iid), channel="work", step_id=f"x:{len(taken)}", wait=None)
                if msg is not None:
                    taken.append((iid, msg.message_id))
        assert sorted(m for _i, m in taken) == ["early", "late"]

    async def test_competing_wakes_one_waiter_per_message(self, storage: Any) -> None:
        for i in range(3):
            assert (
                await self._waiting_receiver(storage, f"w{i}", "q", "competing", now=T0 + timedelta(seconds=i)) is None
            )
        _, woken = await storage.publish(NewMessage("m", "q", {}), now=T0 + timedelta(seconds=9))
        assert woken == ("w0",)  # the longest-waiting one

    async def test_direct_messages_reach_only_their_target(self, storage: Any) -> None:
        assert await self._waiting_receiver(storage, "a", "approval", mode=None) is None
        assert await self._waiting_receiver(storage, "b", "approval", mode=None) is None
        _, woken = await storage.publish(NewMessage("m", "approval", {"ok": True}, target_instance_id="b"), now=T0)
        assert woken == ("b",)
        await storage.claim_instance("a", worker_id=WORKER, now=T0, lease_expires_at=T0 + timedelta(30))
        assert await storage.receive_or_wait(step("a", epoch=2), channel="approval", step_id="r:2", wait=None) is None
        await storage.claim_instance("b", worker_id=WORKER, now=T0, lease_expires_at=T0 + timedelta(30))
        got = await storage.receive_or_wait(step("b", epoch=2), channel="approval", step_id="r:2", wait=None)
        assert got is not None and got.target_instance_id == "b"
        assert await storage.receive_or_wait(step("b", epoch=2), channel="approval", step_id="r:3", wait=None) is None

    async def test_mode_conflict_is_rejected_and_writes_nothing(self, storage: Any) -> None:
        await storage.create_instance(new_instance("a"))
        await storage.create_instance(new_instance("b"))
        await storage.commit_step(step("a", subscriptions=(Subscribe("ch", "competing"),)))
        with pytest.raises(ChannelModeConflictError, match="'competing'"):
            await storage.commit_step(
                step("b", history=(completed("x:1"),), subscriptions=(Subscribe("ch", "broadcast"),))
            )
        assert await storage.get_history("b") == []
        await storage.commit_step(step("b", subscriptions=(Subscribe("ch", None),)))  # adopts competing

    async def test_messages_in_commit_step_wake_receivers(self, storage: Any) -> None:
        assert await self._waiting_receiver(storage, "r", "events") is None
        await storage.create_instance(new_instance("p"))
        outcome = await storage.commit_step(step("p", messages=(NewMessage("m", "events", b"\x00bin"),)))
        assert outcome.woken == ("r",)
        await storage.claim_instance("r", worker_id=WORKER, now=T0, lease_expires_at=T0 + timedelta(30))
        got = await storage.receive_or_wait(step("r", epoch=2), channel="events", step_id="r:2", wait=None)
        assert got is not None and got.data == b"\x00bin"
        entry = (await storage.get_history("r"))[-1]
        assert entry.payload == b"\x00bin" and entry.event_data["data_encoding"] == "bytes"

    async def test_finished_instances_lose_their_subscriptions(self, storage: Any) -> None:
        assert await self._waiting_receiver(storage, "r", "ch") is None
        await storage.claim_instance("r", worker_id=WORKER, now=T0, lease_expires_at=T0 + timedelta(30))
        await storage.commit_step(step("r", epoch=2, update=InstanceUpdate(status="completed", release_lease=True)))
        _, woken = await storage.publish(NewMessage("m", "ch", {}), now=T0)
        assert woken == ()

    async def test_unsubscribe(self, storage: Any) -> None:
        assert await self._waiting_receiver(storage, "r", "ch") is None
        await storage.claim_instance("r", worker_id=WORKER, now=T0, lease_expires_at=T0 + timedelta(30))
        await storage.commit_step(step("r", epoch=2, subscriptions=(Unsubscribe("ch"),)))
        _, woken = await storage.publish(NewMessage("m", "ch", {}), now=T0)
        assert woken == ()

    async def test_cleanup_keeps_undelivered_messages(self, storage: Any) -> None:
        assert await self._waiting_receiver(storage, "c", "jobs", "competing") is None
        await storage.publish(NewMessage("old-unclaimed", "jobs", {}), now=T0)
        await storage.publish(NewMessage("old-claimed", "jobs", {}), now=T0)
        await storage.claim_instance("c", worker_id=WORKER, now=T0, lease_expires_at=T0 + timedelta(30))
        got = await storage.receive_or_wait(step("c", epoch=2), channel="jobs", step_id="r:2", wait=None)
        assert got.message_id == "old-unclaimed"
        await storage.publish(NewMessage("new", "jobs", {}), now=T0 + timedelta(days=10))
        removed = await storage.cleanup_messages(older_than=T0 + timedelta(days=7))
        assert removed == 1  # only the delivered old one
        got = await storage.receive_or_wait(step("c", epoch=2), channel="jobs", step_id="r:3", wait=None)
        assert got.message_id == "old-claimed"  # still there: it had not been delivered

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

    # -- outbox relaying ----------------------------------------------------------------------------------------

    async def _outbox_of(self, storage: Any, spec: dict[str, int]) -> None:
        for iid, count in spec.items():
            await storage.create_instance(new_instance(iid))
            for n in range(count):
                await storage.commit_step(step(iid, outbox=(NewOutboxEvent(f"{iid}-e{n}", "t", "s", {"n": n}),)))

    async def test_outbox_claims_in_order_one_head_per_instance(self, storage: Any) -> None:
        await self._outbox_of(storage, {"a": 2, "b": 1})
        until = T0 + timedelta(seconds=30)
        claimed = await storage.claim_outbox(worker_id="r1", now=T0, claim_expires_at=until, limit=10)
        assert [e.event_id for e in claimed] == ["a-e0", "b-e0"]  # a-e1 waits for a-e0
        assert all(e.claimed_by == "r1" for e in claimed) and claimed[0].seq < claimed[1].seq
        assert await storage.claim_outbox(worker_id="r2", now=T0, claim_expires_at=until, limit=10) == []
        assert await storage.finish_outbox("a-e0", worker_id="r1", status="published", now=T0) is True
        nxt = await storage.claim_outbox(worker_id="r2", now=T0, claim_expires_at=until, limit=10)
        assert [e.event_id for e in nxt] == ["a-e1"]
        published = await storage.list_outbox(status="published")
        assert [(e.event_id, e.attempts, e.published_at) for e in published] == [("a-e0", 1, T0)]

    async def test_outbox_retry_and_expired_claims(self, storage: Any) -> None:
        await self._outbox_of(storage, {"a": 1})
        until = T0 + timedelta(seconds=30)
        [event] = await storage.claim_outbox(worker_id="r1", now=T0, claim_expires_at=until, limit=1)
        later = T0 + timedelta(seconds=5)
        assert await storage.retry_outbox(event.event_id, worker_id="r1", error="503", next_attempt_at=later)
        assert await storage.claim_outbox(worker_id="r1", now=T0, claim_expires_at=until, limit=1) == []
        [again] = await storage.claim_outbox(worker_id="r2", now=later, claim_expires_at=later + timedelta(1), limit=1)
        assert again.attempts == 1 and again.last_error == "503"
        # r1's stale claim cannot finish it; after r2's claim lapses, r3 can take it
        assert await storage.finish_outbox(event.event_id, worker_id="r1", status="published", now=later) is False
        much_later = later + timedelta(days=2)
        [third] = await storage.claim_outbox(worker_id="r3", now=much_later, claim_expires_at=much_later, limit=1)
        assert third.event_id == event.event_id
        assert await storage.finish_outbox(
            event.event_id, worker_id="r3", status="failed", now=much_later, error="400 bad request"
        )
        [failed] = await storage.list_outbox(status="failed")
        assert failed.last_error == "400 bad request" and failed.attempts == 2
        assert await storage.claim_outbox(worker_id="r4", now=much_later, claim_expires_at=much_later, limit=5) == []

    async def test_concurrent_outbox_claims_never_overlap(self, storage: Any) -> None:
        await self._outbox_of(storage, {f"i{n}": 1 for n in range(20)})
        until = T0 + timedelta(seconds=30)
        batches = await asyncio.gather(
            *(storage.claim_outbox(worker_id=f"r{n}", now=T0, claim_expires_at=until, limit=5) for n in range(6))
        )
        ids = [e.event_id for batch in batches for e in batch]
        assert len(ids) == len(set(ids)) == 20
