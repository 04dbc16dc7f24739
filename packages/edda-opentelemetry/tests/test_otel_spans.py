"""The span tree, span events, statuses and metrics of real workflows on a real SQLite file."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.trace import StatusCode

from edda import (
    EddaApp,
    RetryPolicy,
    StorageUnavailableError,
    TerminalError,
    WorkflowCancelledException,
    WorkflowContext,
    WorkflowFailedError,
    activity,
    sleep,
    wait_event,
    workflow,
)
from edda.storage.memory import InMemoryStorage
from edda.storage.records import StepCommit, StepOutcome
from edda_opentelemetry import OpenTelemetryHooks

FAST_RETRY = RetryPolicy(max_attempts=5, initial_interval=0.001, backoff_coefficient=1.0)
seen_in_activity: dict[str, Any] = {}


@activity
async def otel_reserve(ctx: WorkflowContext, item: str) -> str:
    current = trace.get_current_span().get_span_context()
    seen_in_activity["span_id"] = current.span_id
    with trace.get_tracer("user-code", tracer_provider=seen_in_activity["provider"]).start_as_current_span("db.query"):
        pass
    return f"reserved {item}"


@activity
def otel_charge(ctx: WorkflowContext, amount: float) -> float:  # sync: runs in a worker thread
    seen_in_activity.setdefault("sync_span_ids", []).append(trace.get_current_span().get_span_context().span_id)
    return amount * 2


@workflow
async def otel_order(ctx: WorkflowContext, item: str, amount: float) -> dict[str, Any]:
    reserved = await otel_reserve(ctx, item)
    charged = await otel_charge(ctx, amount)
    return {"reserved": reserved, "charged": charged}


async def test_a_workflow_span_is_the_parent_of_its_activity_spans(app: EddaApp, spans: Any, kit: Any) -> None:
    seen_in_activity["provider"] = spans.provider
    with spans.provider.get_tracer("caller").start_as_current_span("POST /orders") as request:
        iid = await otel_order.start(item="book", amount=10.0)
    assert await app.wait_for_result(iid, timeout=10) == {"reserved": "reserved book", "charged": 20.0}

    caller = spans.one("POST /orders")
    start = spans.one("start_workflow:otel_order")
    run = spans.one("workflow:otel_order")
    reserve, charge = spans.one("activity:otel_reserve"), spans.one("activity:otel_charge")
    assert request.get_span_context().span_id == kit.span_id(caller)
    # The caller's span -> the instance's start span -> its run -> the activities, all in the caller's trace.
    assert kit.parent_id(start) == kit.span_id(caller)
    assert kit.parent_id(run) == kit.span_id(start)
    assert kit.parent_id(reserve) == kit.parent_id(charge) == kit.span_id(run)
    assert {kit.trace_id(s) for s in (caller, start, run, reserve, charge)} == {kit.trace_id(caller)}
    assert dict(run.attributes or {}) == {
        "edda.workflow.instance_id": iid,
        "edda.workflow.name": "otel_order",
        "edda.workflow.resumed": False,
        "edda.workflow.status": "completed",
        "edda.workflow.run.outcome": "finished",
    }
    assert dict(reserve.attributes or {}) == {
        "edda.workflow.instance_id": iid,
        "edda.workflow.name": "otel_order",
        "edda.activity.id": "otel_reserve:1",
        "edda.activity.name": "otel_reserve",
    }
    assert (charge.attributes or {})["edda.activity.id"] == "otel_charge:1"
    assert {s.status.status_code for s in (start, run, reserve, charge)} == {StatusCode.UNSET}
    # The activity body runs under its span, in a thread too: spans it makes nest there.
    assert seen_in_activity["span_id"] == kit.span_id(reserve)
    assert seen_in_activity["sync_span_ids"][-1] == kit.span_id(charge)
    assert kit.parent_id(spans.one("db.query")) == kit.span_id(reserve)


async def test_without_a_caller_span_the_start_span_is_the_root(app: EddaApp, spans: Any, kit: Any) -> None:
    seen_in_activity["provider"] = spans.provider
    iid = await otel_order.start(item="pen", amount=1.0)
    await app.wait_for_result(iid, timeout=10)
    start, run = spans.one("start_workflow:otel_order"), spans.one("workflow:otel_order")
    assert start.parent is None
    assert kit.parent_id(run) == kit.span_id(start) and kit.trace_id(run) == kit.trace_id(start)


attempts: dict[str, int] = {}


@activity(retry_policy=FAST_RETRY)
async def otel_flaky(ctx: WorkflowContext, key: str) -> str:
    attempts[key] = attempts.get(key, 0) + 1
    if attempts[key] < 3:
        raise ConnectionError(f"blip {attempts[key]}")
    return "ok"


@workflow
async def otel_retrying(ctx: WorkflowContext, key: str) -> str:
    return await otel_flaky(ctx, key)


async def test_retries_are_events_of_the_activity_span(app: EddaApp, spans: Any, metrics: Any) -> None:
    iid = await otel_retrying.start(key="retry-events")
    assert await app.wait_for_result(iid, timeout=10) == "ok"
    span = spans.one("activity:otel_flaky")  # one span for the execution, whatever the attempts
    retries = [e for e in span.events if e.name == "retry"]
    assert [dict(e.attributes or {}) for e in retries] == [
        {
            "edda.activity.attempt": n,
            "edda.activity.retry_delay": 0.001,
            "exception.type": "ConnectionError",
            "exception.message": f"blip {n}",
        }
        for n in (1, 2)
    ]
    assert span.status.status_code is StatusCode.UNSET
    assert metrics.value("edda.activity.executed", activity_name="otel_flaky", activity_status="completed") == 1


@activity
async def otel_refuse(ctx: WorkflowContext) -> None:
    raise TerminalError("card declined")


@workflow
async def otel_failing(ctx: WorkflowContext) -> None:
    await otel_refuse(ctx)


async def test_failures_set_the_error_status_with_the_exception(app: EddaApp, spans: Any, metrics: Any) -> None:
    iid = await otel_failing.start()
    with pytest.raises(WorkflowFailedError):
        await app.wait_for_result(iid, timeout=10)
    activity_span, run = spans.one("activity:otel_refuse"), spans.one("workflow:otel_failing")
    for span in (activity_span, run):
        assert span.status.status_code is StatusCode.ERROR
        assert span.status.description == "TerminalError: card declined"
        [exception] = [e for e in span.events if e.name == "exception"]
        assert (exception.attributes or {})["exception.type"] == "edda.exceptions.TerminalError"
        assert (exception.attributes or {})["exception.message"] == "card declined"
    assert (run.attributes or {})["edda.workflow.status"] == "failed"
    assert (
        metrics.value("edda.workflow.failed", workflow_name="otel_failing", error_type="edda.exceptions.TerminalError")
        == 1
    )
    assert metrics.value("edda.activity.executed", activity_name="otel_refuse", activity_status="failed") == 1
    assert metrics.value("edda.workflow.completed", workflow_name="otel_failing") == 0


@workflow
async def otel_waits_for_approval(ctx: WorkflowContext) -> str:
    await otel_charge(ctx, 1.0)
    event = await wait_event(ctx, "otel.approved")
    return str(event.data)


async def test_cancellation_is_visible_and_every_run_shares_the_start_span(
    app: EddaApp, spans: Any, metrics: Any, kit: Any
) -> None:
    iid = await otel_waits_for_approval.start()
    await kit.wait_status(app, iid, "waiting_for_event")
    await app.cancel_workflow(iid)
    with pytest.raises(WorkflowCancelledException):
        await app.wait_for_result(iid, timeout=10)
    start = spans.one("start_workflow:otel_waits_for_approval")
    first, cancelling = spans.named("workflow:otel_waits_for_approval")
    assert kit.parent_id(first) == kit.parent_id(cancelling) == kit.span_id(start)
    assert kit.trace_id(first) == kit.trace_id(cancelling) == kit.trace_id(start)
    assert (first.attributes or {})["edda.workflow.run.outcome"] == "suspended"
    assert (first.attributes or {})["edda.workflow.resumed"] is False
    attributes = dict(cancelling.attributes or {})
    assert attributes["edda.workflow.resumed"] is True
    assert attributes["edda.workflow.status"] == "cancelled"
    assert attributes["edda.workflow.run.outcome"] == "finished"
    assert [e.name for e in cancelling.events] == ["cancelled"]
    assert metrics.value("edda.workflow.cancelled", workflow_name="otel_waits_for_approval") == 1
    assert (
        metrics.value("edda.workflow.duration", workflow_name="otel_waits_for_approval", workflow_status="cancelled")
        == 1
    )


@workflow
async def otel_naps(ctx: WorkflowContext, amount: float) -> float:
    first = await otel_charge(ctx, amount)
    await sleep(ctx, 0.05)
    return await otel_charge(ctx, first)


async def test_a_run_after_a_wait_replays_without_spans_and_continues_the_trace(
    app: EddaApp, spans: Any, metrics: Any, kit: Any
) -> None:
    iid = await otel_naps.start(amount=1.5)
    assert await app.wait_for_result(iid, timeout=10) == 6.0
    start = spans.one("start_workflow:otel_naps")
    before, after = spans.named("workflow:otel_naps")
    charges = spans.named("activity:otel_charge")
    # One span per execution: the replay of otel_charge:1 in the second run makes none.
    assert [(c.attributes or {})["edda.activity.id"] for c in charges] == ["otel_charge:1", "otel_charge:2"]
    assert [kit.parent_id(c) for c in charges] == [kit.span_id(before), kit.span_id(after)]
    assert kit.parent_id(before) == kit.parent_id(after) == kit.span_id(start)
    assert (after.attributes or {})["edda.workflow.run.replayed_activities"] == 1
    assert metrics.value("edda.activity.cache_hit", activity_name="otel_charge", workflow_name="otel_naps") == 1
    assert metrics.value("edda.activity.executed", activity_name="otel_charge", workflow_name="otel_naps") == 2
    assert metrics.value("edda.activity.duration", activity_name="otel_charge", workflow_name="otel_naps") == 2
    [duration] = metrics.points("edda.workflow.duration")
    assert duration.count == 1 and duration.sum >= 0.05  # from the start of the instance, its sleep included


@workflow
async def otel_counts_down(ctx: WorkflowContext, n: int) -> int:
    await otel_charge(ctx, float(n))
    if n > 0:
        await ctx.recur(n=n - 1)
    return n


async def test_recurring_keeps_the_trace_in_every_iteration(app: EddaApp, spans: Any, kit: Any) -> None:
    iid = await otel_counts_down.start(n=2)
    assert await app.wait_for_result(iid, timeout=10) == 0
    start = spans.one("start_workflow:otel_counts_down")
    runs = spans.named("workflow:otel_counts_down")
    outcomes = [(r.attributes or {})["edda.workflow.run.outcome"] for r in runs]
    assert outcomes == ["recurred", "recurred", "finished"]
    assert {kit.parent_id(r) for r in runs} == {kit.span_id(start)}
    history = await app.storage.get_history(iid)  # the current iteration keeps the trace context too
    notes = [e for e in history if e.event_type == "TraceContext"]
    assert [n.event_data["context"]["traceparent"] for n in notes] == [kit.traceparent_of(start)]


async def test_the_workflow_counters(app: EddaApp, metrics: Any) -> None:
    seen_in_activity["provider"] = None
    for amount in (1.0, 2.0):
        iid = await otel_naps.start(amount=amount)
        await app.wait_for_result(iid, timeout=10)
    failed = await otel_failing.start()
    with pytest.raises(WorkflowFailedError):
        await app.wait_for_result(failed, timeout=10)
    assert metrics.value("edda.workflow.started", workflow_name="otel_naps") == 2
    assert metrics.value("edda.workflow.started", workflow_name="otel_failing") == 1
    assert metrics.value("edda.workflow.completed", workflow_name="otel_naps") == 2
    assert metrics.value("edda.workflow.failed", workflow_name="otel_naps") == 0
    assert metrics.value("edda.workflow.failed", workflow_name="otel_failing") == 1
    assert metrics.value("edda.workflow.duration", workflow_name="otel_naps", workflow_status="completed") == 2
    assert metrics.value("edda.workflow.duration", workflow_name="otel_failing", workflow_status="failed") == 1


class FailsFirstCommit(InMemoryStorage):
    """The reference storage, whose first step commit fails as a lost connection does (nothing written)."""

    def __init__(self) -> None:
        super().__init__()
        self.failed = False

    async def commit_step(self, commit: StepCommit, *, tx: Any = None) -> StepOutcome:
        if not self.failed:
            self.failed = True
            raise StorageUnavailableError("injected: the database went away")
        return await super().commit_step(commit, tx=tx)


async def test_a_run_retried_before_its_first_commit_keeps_the_start_span(
    hooks: OpenTelemetryHooks, spans: Any, kit: Any
) -> None:
    seen_in_activity["provider"] = spans.provider  # otel_reserve's tracer (whichever test ran before this one)
    async with EddaApp(storage=FailsFirstCommit(), hooks=hooks) as app:
        iid = await otel_order.start(item="mug", amount=3.0)
        assert (await app.wait_for_result(iid, timeout=10))["charged"] == 6.0
    start = spans.one("start_workflow:otel_order")  # the retry asked again, and got the same context
    failed, retried = spans.named("workflow:otel_order")
    assert [(r.attributes or {})["edda.workflow.run.outcome"] for r in (failed, retried)] == ["interrupted", "finished"]
    assert kit.parent_id(failed) == kit.parent_id(retried) == kit.span_id(start)
