"""The detail page's timeline, compensations and messages, built from the histories real runs record."""

from __future__ import annotations

import asyncio

import viewer_demo_workflows as demo

from edda import EddaApp
from edda.storage.memory import InMemoryStorage
from edda_viewer._timeline import StepKind, build_timeline, compensations, messages, waiting_step


async def _until(app: EddaApp, instance_id: str, status: str) -> None:
    for _ in range(500):
        record = await app.get_instance(instance_id)
        if record is not None and record.status == status:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{instance_id} never reached {status}")


async def test_retries_waits_messages_and_events_each_become_a_step() -> None:
    async with EddaApp(service_name="timeline", storage=InMemoryStorage(), recovery_interval=0.05) as app:
        iid = await demo.viewer_demo_tour.start(instance_id="tour-1", key="t1")
        await _until(app, iid, "waiting_for_event")
        record = await app.get_instance(iid)
        assert record is not None
        waiting = waiting_step(record)
        assert waiting is not None and waiting.outcome == "waiting"
        assert waiting.detail["channel"] == "viewer.demo.go.t1"
        await app.handle_cloudevent(
            {"type": "viewer.demo.go.t1", "source": "test", "id": "go-1", "data": {"go": "yes"}}, wait=True
        )
        assert await app.wait_for_result(iid, timeout=10) == "t1:yes"
        record = await app.get_instance(iid)
        history = await app.storage.get_history(iid)
    assert record is not None and waiting_step(record) is None
    steps = build_timeline(history)
    assert [(s.kind, s.name, s.outcome) for s in steps] == [
        (StepKind.ACTIVITY, "flaky", "completed"),
        (StepKind.TIMER, "sleep", "fired"),
        (StepKind.ACTIVITY, "notify", "completed"),
        (StepKind.SUBSCRIBE, "viewer.demo.t1", "subscribed"),
        (StepKind.PUBLISH, "viewer.demo.t1", "published"),
        (StepKind.RECEIVE, "viewer.demo.t1", "received"),
        (StepKind.RECEIVE, "viewer.demo.go.t1", "received"),
    ]
    flaky = steps[0]
    assert flaky.attempts == 3
    assert [(e["attempt"], e["error_type"], e["message"]) for e in flaky.errors] == [
        (1, "ConnectionError", "try 1 failed"),
        (2, "ConnectionError", "try 2 failed"),
    ]
    assert flaky.duration_ms is not None and flaky.detail["result"] == "third time lucky"
    assert steps[1].duration_ms is not None and steps[1].detail["wake_at"]
    assert steps[5].detail["data"] == {"hello": "t1"}
    assert steps[6].detail["data"] == {"go": "yes"}
    assert sorted(seq for s in steps for seq in s.seqs) == [e.seq for e in history]  # every entry is shown once
    views = messages(history)
    assert [(v.direction, v.channel, v.data) for v in views] == [
        ("published", "viewer.demo.t1", None),
        ("received", "viewer.demo.t1", {"hello": "t1"}),
        ("received", "viewer.demo.go.t1", {"go": "yes"}),
    ]
    assert views[0].message_id == views[1].message_id


async def test_a_cancelled_saga_lists_its_compensation_as_executed() -> None:
    async with EddaApp(service_name="timeline", storage=InMemoryStorage(), recovery_interval=0.05) as app:
        iid = await demo.viewer_demo_hold.start(instance_id="hold-1", item="desk")
        await _until(app, iid, "waiting_for_event")
        pending = compensations(await app.storage.get_history(iid))
        assert [(c.name, c.status) for c in pending] == [("viewer_demo_release", "pending")]
        await app.cancel_workflow(iid)
        await _until(app, iid, "cancelled")
        history = await app.storage.get_history(iid)
    done = compensations(history)
    assert [(c.name, c.for_step, c.status, c.error) for c in done] == [
        ("viewer_demo_release", pending[0].step_id, "executed", None)
    ]
    assert [s.kind for s in build_timeline(history)] == [StepKind.ACTIVITY, StepKind.COMPENSATION]
