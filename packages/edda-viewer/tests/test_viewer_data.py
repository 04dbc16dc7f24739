"""The viewer's data access on real databases (SQLite; PostgreSQL when EDDA_TEST_POSTGRES_URL is set): keyset
paging, search by name or id, filters, an instance's detail, start, cancel, the outbox, and read-only refusals."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
import viewer_demo_workflows as demo

from edda import EddaApp, WorkflowFailedError
from edda.storage.records import InstanceQuery, InstanceRecord
from edda_viewer._data import ActionRefused, ViewerData
from edda_viewer._filters import ListFilters
from edda_viewer._timeline import build_timeline, compensations


@pytest.fixture
async def app(db_url: str) -> AsyncIterator[EddaApp]:
    async with EddaApp(service_name="viewer-data-test", db_url=db_url, recovery_interval=0.1) as app:
        yield app


async def seed(app: EddaApp, count: int = 23) -> list[InstanceRecord]:
    """``count`` charge instances (every fifth over the limit, so it fails), newest last."""
    for i in range(count):
        iid = await demo.viewer_demo_charge.start(
            instance_id=f"inst-{i:03d}", customer_id=f"C-{i % 4}", amount=150.0 if i % 5 == 0 else 10.0 + i
        )
        try:
            await app.wait_for_result(iid, timeout=30)
        except WorkflowFailedError:
            pass
    return (await app.storage.find_instances(InstanceQuery(limit=1000))).instances


async def wait_for_status(app: EddaApp, instance_id: str, status: str) -> None:
    for _ in range(500):
        record = await app.get_instance(instance_id)
        if record is not None and record.status == status:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{instance_id} never reached {status}")


async def all_pages(data: ViewerData, filters: ListFilters) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor = None
    while True:
        page = await data.list_instances(filters, cursor)
        pages.append([r.instance_id for r in page.rows])
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor
        assert len(pages) < 50


async def test_keyset_pages_cover_every_instance_once_newest_first(app: EddaApp) -> None:
    records = await seed(app)
    expected = [r.instance_id for r in sorted(records, key=lambda r: (r.created_at, r.instance_id), reverse=True)]
    pages = await all_pages(ViewerData(app), ListFilters(page_size=10))
    assert [len(p) for p in pages] == [10, 10, 3]
    assert [iid for p in pages for iid in p] == expected


async def test_search_matches_the_workflow_name_or_the_instance_id(app: EddaApp) -> None:
    await seed(app, 12)
    for key in ("charge-7", "xcharge"):
        await demo.viewer_demo_hold.start(instance_id=f"hold-{key}", item=key)
    await demo.viewer_demo_hold.start(instance_id="hold-other", item="x")
    data = ViewerData(app)
    pages = await all_pages(data, ListFilters(search="CHARGE", page_size=10))
    found = [iid for p in pages for iid in p]
    assert [len(p) for p in pages] == [10, 4]
    assert sorted(found) == sorted([f"inst-{i:03d}" for i in range(12)] + ["hold-charge-7", "hold-xcharge"])
    assert len(found) == len(set(found))
    only_ids = await all_pages(data, ListFilters(search="hold-", page_size=10))
    assert sorted(only_ids[0]) == ["hold-charge-7", "hold-other", "hold-xcharge"]


async def test_status_input_and_date_filters(app: EddaApp) -> None:
    records = await seed(app, 15)
    data = ViewerData(app)
    failed = (await data.list_instances(ListFilters(status="failed"))).rows
    assert sorted(r.instance_id for r in failed) == ["inst-000", "inst-005", "inst-010"]
    by_customer = (await data.list_instances(ListFilters(input_filters=(("customer_id", "C-1"),)))).rows
    assert sorted(r.instance_id for r in by_customer) == ["inst-001", "inst-005", "inst-009", "inst-013"]
    by_amount = (await data.list_instances(ListFilters(input_filters=(("amount", 150),)))).rows
    assert {r.instance_id for r in by_amount} == {r.instance_id for r in failed}
    middle = sorted(records, key=lambda r: (r.created_at, r.instance_id))[7]
    newer = (await data.list_instances(ListFilters(started_after=middle.created_at, page_size=100))).rows
    assert {r.instance_id for r in newer} == {r.instance_id for r in records if r.created_at >= middle.created_at}
    older = (await data.list_instances(ListFilters(started_before=middle.created_at - timedelta(microseconds=1)))).rows
    assert {r.instance_id for r in older} == {r.instance_id for r in records if r.created_at < middle.created_at}
    both = (await data.list_instances(ListFilters(status="failed", search="inst-01"))).rows
    assert [r.instance_id for r in both] == ["inst-010"]


async def test_the_detail_of_a_failed_saga_shows_its_steps_and_compensation(app: EddaApp) -> None:
    await seed(app, 1)  # inst-000: amount 150, fails after holding the item
    detail = await ViewerData(app).instance_detail("inst-000")
    assert detail is not None and detail.workflow is demo.viewer_demo_charge
    assert detail.record.status == "failed" and detail.record.error is not None
    assert "amount 150.0 over the limit" in detail.record.error["message"]
    assert "Traceback" in detail.record.error["traceback"]
    steps = build_timeline(detail.history)
    assert [(s.kind.value, s.name, s.outcome) for s in steps] == [
        ("activity", "hold_item", "completed"),
        ("activity", "charge", "failed"),
        ("compensation", "viewer_demo_release", "executed"),
    ]
    assert steps[0].compensation == "viewer_demo_release" and steps[0].detail["result"] == "held C-0"
    assert steps[1].error is not None and steps[1].error["error_type"] == "TerminalError"
    assert [(c.name, c.for_step, c.status) for c in compensations(detail.history)] == [
        ("viewer_demo_release", steps[0].step_id, "executed")
    ]
    assert await ViewerData(app).instance_detail("no-such-instance") is None


async def test_start_and_cancel_run_through_the_app(app: EddaApp) -> None:
    data = ViewerData(app)
    iid = await data.start("viewer_demo_hold", {"item": "lamp"}, instance_id="hold-lamp")
    assert iid == "hold-lamp"
    await wait_for_status(app, iid, "waiting_for_event")
    assert await data.cancel(iid) is True  # this app runs workflows: the compensation ran before it returned
    detail = await data.instance_detail(iid)
    assert detail is not None and detail.record.status == "cancelled"
    assert [c.status for c in compensations(detail.history)] == ["executed"]
    with pytest.raises(Exception, match="already finished"):
        await data.cancel(iid)


async def _snapshot(app: EddaApp) -> list[Any]:
    page = await app.storage.find_instances(InstanceQuery(limit=1000))
    rows: list[Any] = [dataclasses.astuple(r) for r in page.instances]
    for record in page.instances:
        rows.append([dataclasses.astuple(e) for e in await app.storage.get_history(record.instance_id)])
    rows.append([dataclasses.astuple(e) for e in await app.storage.list_outbox(limit=1000)])
    return rows


async def test_a_read_only_viewer_refuses_every_action_and_reading_writes_nothing(app: EddaApp) -> None:
    await seed(app, 3)
    data = ViewerData(app, read_only=True)
    before = await _snapshot(app)
    await data.list_instances(ListFilters(search="inst", status="completed", input_filters=(("customer_id", "C-1"),)))
    await data.instance_detail("inst-001")
    await data.outbox()
    for action, args in (
        (data.start, ("viewer_demo_hold", {"item": "x"})),
        (data.cancel, ("inst-001",)),
        (data.resend_outbox, ("e",)),
        (data.skip_outbox, ("e",)),
    ):
        with pytest.raises(ActionRefused, match="read-only"):
            await action(*args)  # type: ignore[operator]
    assert await _snapshot(app) == before
    assert not data.outbox_actions


async def test_the_outbox_lists_pending_events_and_skips_and_resends_them(app: EddaApp) -> None:
    iid = await demo.viewer_demo_tour.start(instance_id="tour-outbox", key="outbox")
    data = ViewerData(app)
    for _ in range(300):
        events = await data.outbox(status="pending")
        if events:
            break
        await asyncio.sleep(0.02)
    (event,) = events
    assert (event.event_type, event.instance_id, event.data) == ("viewer.demo.notified", iid, {"key": "outbox"})
    assert data.outbox_actions
    await data.skip_outbox(event.event_id)
    assert [e.event_id for e in await data.outbox(status="skipped")] == [event.event_id]
    assert await data.outbox(status="pending") == []
    await data.resend_outbox(event.event_id)
    assert [e.event_id for e in await data.outbox(status="pending")] == [event.event_id]
