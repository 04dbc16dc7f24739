"""DurableWorkflowRunner runs real LlamaIndex workflows inside Edda workflows on a real SQLite file."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from pydantic import BaseModel
from workflows import Context, Workflow, catch_error, step
from workflows.events import (
    Event,
    HumanResponseEvent,
    InputRequiredEvent,
    StartEvent,
    StepFailedEvent,
    StopEvent,
)

from edda import EddaApp, WorkflowContext, WorkflowFailedError, activity, send_event, workflow
from edda.storage.records import HistoryEventType
from edda_llamaindex import (
    DurableSleepEvent,
    DurableWaitEvent,
    DurableWorkflowRunner,
    ResumeEvent,
    WorkflowExecutionError,
)

from .conftest import QUICK_RETRY, completed_steps, history_types, run_ended, wait_status

RUNS: Counter[str] = Counter()  # step executions (replayed steps do not count)


@pytest.fixture(autouse=True)
def _fresh_counts() -> None:
    RUNS.clear()


def event(event_type: str, data: Any, event_id: str = "evt-1") -> dict[str, Any]:
    return {"specversion": "1.0", "type": event_type, "source": "tests", "id": event_id, "data": data}


# -- branching: a step is chosen by the event type it accepts ----------------------------------------------------


class Urgent(Event):
    text: str


class Routine(Event):
    text: str


class Triage(Workflow):
    @step
    async def classify(self, ev: StartEvent) -> Urgent | Routine:
        RUNS["classify"] += 1
        return Urgent(text=ev.ticket) if "down" in ev.ticket else Routine(text=ev.ticket)

    @step
    async def escalate(self, ev: Urgent) -> StopEvent:
        RUNS["escalate"] += 1
        return StopEvent(result=f"paged on-call: {ev.text}")

    @step
    async def file(self, ev: Routine) -> StopEvent:
        RUNS["file"] += 1
        return StopEvent(result=f"filed: {ev.text}")


triage_runner = DurableWorkflowRunner(Triage)


@workflow
async def triage(ctx: WorkflowContext, ticket: str) -> str:
    return await triage_runner.run(ctx, ticket=ticket)


async def test_each_event_goes_to_the_step_that_accepts_it(app: EddaApp) -> None:
    urgent = await triage.start(ticket="site is down")
    routine = await triage.start(ticket="typo on the about page")

    assert await app.wait_for_result(urgent, timeout=60) == "paged on-call: site is down"
    assert await app.wait_for_result(routine, timeout=60) == "filed: typo on the about page"
    assert await completed_steps(app, urgent) == ["classify", "escalate"]
    assert await completed_steps(app, routine) == ["classify", "file"]
    assert RUNS == Counter(classify=2, escalate=1, file=1)


# -- a wait suspends the run; the resumed run replays recorded steps and restores ctx.store ----------------------


class Drafted(Event):
    draft: str


class Review(Workflow):
    @step
    async def write(self, ctx: Context, ev: StartEvent) -> Drafted:
        RUNS["write"] += 1
        await ctx.store.set("author", ev.author)
        return Drafted(draft=f"draft about {ev.topic}")

    @step
    async def request_review(self, ev: Drafted) -> DurableWaitEvent:
        RUNS["request_review"] += 1
        return DurableWaitEvent("review.done", timeout_seconds=60)

    @step
    async def publish(self, ctx: Context, ev: ResumeEvent) -> StopEvent:
        RUNS["publish"] += 1
        author = await ctx.store.get("author")
        return StopEvent(
            result={"author": author, "verdict": ev.data["verdict"], "by": ev.metadata["source"], "type": ev.event_type}
        )


review_runner = DurableWorkflowRunner(Review)


@workflow
async def review(ctx: WorkflowContext, topic: str, author: str) -> dict[str, Any]:
    return await review_runner.run(ctx, topic=topic, author=author)


async def test_a_durable_wait_releases_the_worker_and_the_resumed_run_replays(any_db_app: EddaApp) -> None:
    app = any_db_app
    iid = await review.start(topic="replay", author="ada")
    await wait_status(app, iid, "waiting_for_event")
    await run_ended(app, iid)  # the waiting instance holds no task: its run ended
    assert RUNS == Counter(write=1, request_review=1)

    await app.handle_cloudevent(event("review.done", {"verdict": "ship it"}))

    assert await app.wait_for_result(iid, timeout=60) == {
        "author": "ada",  # written to ctx.store by `write`, which did not run again: the store came from history
        "verdict": "ship it",
        "by": "tests",
        "type": "review.done",
    }
    assert RUNS == Counter(write=1, request_review=1, publish=1)
    kinds = [kind for _, kind in await history_types(app, iid)]
    assert kinds.count(HistoryEventType.MESSAGE_RECEIVED) == 1


async def test_an_event_from_send_event_resumes_the_wait(app: EddaApp) -> None:
    iid = await review.start(topic="events", author="grace")
    await wait_status(app, iid, "waiting_for_event")

    await send_event("review.done", "editor-service", {"verdict": "needs work"})

    result = await app.wait_for_result(iid, timeout=60)
    assert result == {"author": "grace", "verdict": "needs work", "by": "editor-service", "type": "review.done"}


# -- durable sleep, and a wait that times out ----------------------------------------------------------------------


class Nap(Workflow):
    @step
    async def start(self, ev: StartEvent) -> DurableSleepEvent | DurableWaitEvent:
        RUNS["start"] += 1
        if ev.mode == "sleep":
            return DurableSleepEvent(0.5, resume_data={"slept": 0.5})
        return DurableWaitEvent("never.sent", timeout_seconds=0.2)

    @step
    async def wake(self, ev: ResumeEvent) -> StopEvent:
        RUNS["wake"] += 1
        return StopEvent(result={"data": ev.data, "timed_out": ev.timed_out, "type": ev.event_type})


nap_runner = DurableWorkflowRunner(Nap)


@workflow
async def nap(ctx: WorkflowContext, mode: str) -> dict[str, Any]:
    RUNS["edda run"] += 1  # the workflow function runs again on every replay
    return await nap_runner.run(ctx, mode=mode)


async def test_a_durable_sleep_resumes_with_its_resume_data(app: EddaApp) -> None:
    iid = await nap.start(mode="sleep")

    assert await app.wait_for_result(iid, timeout=60) == {"data": {"slept": 0.5}, "timed_out": False, "type": None}
    assert RUNS == Counter({"edda run": 2, "start": 1, "wake": 1})  # suspended, then replayed without `start`
    assert HistoryEventType.TIMER_FIRED in [kind for _, kind in await history_types(app, iid)]


async def test_a_wait_that_times_out_resumes_with_timed_out(app: EddaApp) -> None:
    iid = await nap.start(mode="wait")

    assert await app.wait_for_result(iid, timeout=60) == {"data": None, "timed_out": True, "type": "never.sent"}
    assert HistoryEventType.RECEIVE_TIMED_OUT in [kind for _, kind in await history_types(app, iid)]


# -- failures: Edda retries a step; then LlamaIndex's own handling applies ------------------------------------------


class Fetched(Event):
    body: str


class Flaky(Workflow):
    @step
    async def fetch(self, ev: StartEvent) -> Fetched:
        RUNS["fetch"] += 1
        if RUNS["fetch"] <= ev.failures:
            raise ConnectionError(f"attempt {RUNS['fetch']} refused")
        return Fetched(body="payload")

    @step
    async def parse(self, ev: Fetched) -> StopEvent:
        return StopEvent(result=f"parsed {ev.body}")

    @catch_error(for_steps=["fetch"])
    async def fallback(self, ev: StepFailedEvent) -> StopEvent:
        RUNS["fallback"] += 1
        return StopEvent(result=f"fallback after {ev.step_name} failed: {ev.exception}")


flaky_runner = DurableWorkflowRunner(Flaky, retry_policy=QUICK_RETRY)


@workflow
async def flaky(ctx: WorkflowContext, failures: int) -> str:
    return await flaky_runner.run(ctx, failures=failures)


async def test_a_failing_step_is_retried_as_an_activity(app: EddaApp) -> None:
    iid = await flaky.start(failures=2)

    assert await app.wait_for_result(iid, timeout=60) == "parsed payload"
    assert RUNS["fetch"] == 3
    entries = await history_types(app, iid)
    failed_attempts = [aid for aid, kind in entries if kind == HistoryEventType.ACTIVITY_ATTEMPT_FAILED]
    assert len(failed_attempts) == 2 and all(":fetch:" in aid for aid in failed_attempts)
    assert RUNS["fallback"] == 0


async def test_a_step_that_fails_for_good_goes_to_its_catch_error_handler(app: EddaApp) -> None:
    iid = await flaky.start(failures=10)

    result = await app.wait_for_result(iid, timeout=60)
    assert result.startswith("fallback after fetch failed: Activity 'fetch' failed after 3 attempts")
    assert RUNS["fetch"] == 3  # Edda's three attempts, then LlamaIndex routed the failure
    assert RUNS["fallback"] == 1


class Broken(Workflow):
    @step
    async def explode(self, ev: StartEvent) -> StopEvent:
        RUNS["explode"] += 1
        raise LookupError("no such record")


broken_runner = DurableWorkflowRunner(Broken, retry_policy=QUICK_RETRY)


@workflow
async def broken(ctx: WorkflowContext, catch: bool) -> dict[str, str]:
    try:
        await broken_runner.run(ctx)
    except WorkflowExecutionError as exc:
        if not catch:
            raise
        return {"error": str(exc), "cause": type(exc.__cause__).__name__, "workflow": exc.workflow_name}
    return {}


async def test_an_unhandled_step_failure_is_a_workflow_execution_error(app: EddaApp) -> None:
    caught = await broken.start(catch=True)
    result = await app.wait_for_result(caught, timeout=60)
    assert result["cause"] == "RetryExhaustedError"
    assert result["workflow"] == "Broken"
    assert "LlamaIndex workflow 'Broken' failed" in result["error"] and "no such record" in result["error"]

    uncaught = await broken.start(catch=False)
    with pytest.raises(WorkflowFailedError, match="WorkflowExecutionError"):
        await app.wait_for_result(uncaught, timeout=60)
    assert RUNS["explode"] == 6


# -- concurrency: fan-out and collection, replayed after a wait --------------------------------------------------


class Part(Event):
    n: int


class Done(Event):
    n: int


class Summary(BaseModel):
    total: int
    parts: list[int]


class FanOut(Workflow):
    @step
    async def split(self, ev: StartEvent) -> list[Part]:
        RUNS["split"] += 1
        return [Part(n=i) for i in range(1, ev.parts + 1)]

    @step(num_workers=4)
    async def work(self, ev: Part) -> Done:
        RUNS[f"work {ev.n}"] += 1
        await asyncio.sleep(0.01 * (5 - ev.n))  # finish out of order
        return Done(n=ev.n * 10)

    @step
    async def gather(self, ctx: Context, evs: list[Done]) -> DurableWaitEvent:
        RUNS["gather"] += 1
        await ctx.store.set("total", sum(e.n for e in evs))
        await ctx.store.set("parts", sorted(e.n for e in evs))
        return DurableWaitEvent("fanout.approved")

    @step
    async def finish(self, ctx: Context, ev: ResumeEvent) -> StopEvent:
        RUNS["finish"] += 1
        return StopEvent(result=Summary(total=await ctx.store.get("total"), parts=await ctx.store.get("parts")))


fan_runner = DurableWorkflowRunner(FanOut)


@workflow
async def llamaindex_fan_out(ctx: WorkflowContext, parts: int) -> dict[str, Any]:
    summary = await fan_runner.run(ctx, parts=parts)
    assert isinstance(summary, Summary)  # the model, also when its step was replayed
    return summary.model_dump()


async def test_fanned_out_steps_replay_without_running_again(any_db_app: EddaApp) -> None:
    app = any_db_app
    iid = await llamaindex_fan_out.start(parts=4)
    await wait_status(app, iid, "waiting_for_event")
    await app.handle_cloudevent(event("fanout.approved", {}))

    assert await app.wait_for_result(iid, timeout=60) == {"total": 100, "parts": [10, 20, 30, 40]}
    assert RUNS == Counter({"split": 1, "work 1": 1, "work 2": 1, "work 3": 1, "work 4": 1, "gather": 1, "finish": 1})
    assert sorted(await completed_steps(app, iid)) == sorted(
        ["split", "work", "work", "work", "work", "gather", "finish"]
    )


# -- LlamaIndex's own human-in-the-loop idiom: ctx.wait_for_event inside a step --------------------------------------


class Approval(Workflow):
    @step
    async def ask(self, ctx: Context, ev: StartEvent) -> StopEvent:
        RUNS["ask"] += 1
        answer = await ctx.wait_for_event(
            ResumeEvent, waiter_event=DurableWaitEvent("approval.given"), waiter_id="approval", timeout=None
        )
        return StopEvent(result={"item": ev.item, "approved_by": answer.data["by"]})


approval_runner = DurableWorkflowRunner(Approval)


@workflow
async def llamaindex_approval(ctx: WorkflowContext, item: str) -> dict[str, Any]:
    return await approval_runner.run(ctx, item=item)


async def test_wait_for_event_in_a_step_waits_durably(app: EddaApp) -> None:
    iid = await llamaindex_approval.start(item="laptop")
    await wait_status(app, iid, "waiting_for_event")
    await app.handle_cloudevent(event("approval.given", {"by": "manager"}))

    assert await app.wait_for_result(iid, timeout=60) == {"item": "laptop", "approved_by": "manager"}
    # The step ran to its wait, then (resumed) ran again to its end: the first run's outcome was replayed.
    assert RUNS["ask"] == 2


# -- two LlamaIndex runs in one Edda workflow ---------------------------------------------------------------------


@workflow
async def two_tickets(ctx: WorkflowContext) -> list[str]:
    return [await triage_runner.run(ctx, ticket="db down"), await triage_runner.run(ctx, ticket="db down")]


async def test_two_runs_in_one_workflow_keep_their_own_steps(app: EddaApp) -> None:
    iid = await two_tickets.start()

    assert await app.wait_for_result(iid, timeout=60) == ["paged on-call: db down", "paged on-call: db down"]
    ids = [aid for aid, kind in await history_types(app, iid) if kind == HistoryEventType.ACTIVITY_COMPLETED]
    assert len(ids) == 4 and len(set(ids)) == 4
    assert [aid.split(":")[1] for aid in ids] == ["1", "1", "2", "2"]


# -- bad input ------------------------------------------------------------------------------------------------------


def test_the_runner_takes_a_workflow_class() -> None:
    with pytest.raises(TypeError, match="the class itself, not an instance"):
        DurableWorkflowRunner(Triage(timeout=None))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="LlamaIndex Workflow subclass"):
        DurableWorkflowRunner(dict)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="edda.RetryPolicy"):
        DurableWorkflowRunner(Triage, retry_policy={"max_attempts": 3})  # type: ignore[arg-type]


def test_wait_events_check_their_fields() -> None:
    with pytest.raises(ValueError, match="greater than or equal to 0"):
        DurableSleepEvent(-1)
    with pytest.raises(ValueError, match="at least 1 character"):
        DurableWaitEvent("")
    assert DurableSleepEvent(5, resume_data=[1]).resume_data == [1]
    assert ResumeEvent({"a": 1}).data == {"a": 1}


class Typed(StartEvent):
    order_id: str


class TypedFlow(Workflow):
    @step
    async def go(self, ev: Typed) -> StopEvent:
        return StopEvent(result=ev.order_id)


typed_runner = DurableWorkflowRunner(TypedFlow)


@workflow
async def typed(ctx: WorkflowContext) -> str:
    try:
        return await typed_runner.run(ctx, order=1)  # the start event needs order_id
    except WorkflowExecutionError as exc:
        return str(exc)


@activity
async def run_inside_an_activity(ctx: WorkflowContext) -> str:
    try:
        await triage_runner.run(ctx, ticket="x")
    except RuntimeError as exc:
        return str(exc)
    return "ran"


@workflow
async def misplaced(ctx: WorkflowContext) -> str:
    return await run_inside_an_activity(ctx)


async def test_misuse_gets_an_error_that_says_what_to_do(app: EddaApp) -> None:
    message = await app.wait_for_result(await typed.start(), timeout=60)
    assert message.startswith("LlamaIndex workflow 'TypedFlow' could not start: WorkflowRuntimeError")
    assert "order_id" in message or "Typed" in message

    assert await app.wait_for_result(await misplaced.start(), timeout=60) == (
        "DurableWorkflowRunner.run() belongs in workflow code, not inside an activity."
    )


class AsksAHuman(Workflow):
    @step
    async def ask(self, ev: StartEvent) -> InputRequiredEvent:
        return InputRequiredEvent(prefix="name? ")

    @step
    async def answer(self, ev: HumanResponseEvent) -> StopEvent:
        return StopEvent(result=ev.response)


human_runner = DurableWorkflowRunner(AsksAHuman)


@workflow
async def asks_a_human(ctx: WorkflowContext) -> str:
    try:
        return await human_runner.run(ctx)
    except WorkflowExecutionError as exc:
        return str(exc)


async def test_a_plain_input_request_is_an_error_instead_of_a_hang(app: EddaApp) -> None:
    message = await app.wait_for_result(await asks_a_human.start(), timeout=60)
    assert message.startswith("LlamaIndex workflow 'AsksAHuman' asked for input with InputRequiredEvent, which nothing")
    assert "Return DurableWaitEvent(event_type)" in message


# -- a typed state model (Context[State]) is restored too -----------------------------------------------------------


class Tally(BaseModel):
    seen: list[str] = []


class Counted(Event):
    word: str


class Counting(Workflow):
    @step
    async def first(self, ctx: Context[Tally], ev: StartEvent) -> Counted:
        RUNS["first"] += 1
        async with ctx.store.edit_state() as state:
            state.seen.append(ev.word)
        return Counted(word=ev.word.upper())

    @step
    async def pause(self, ctx: Context[Tally], ev: Counted) -> DurableSleepEvent:
        RUNS["pause"] += 1
        async with ctx.store.edit_state() as state:
            state.seen.append(ev.word)
        return DurableSleepEvent(0.5)

    @step
    async def last(self, ctx: Context[Tally], ev: ResumeEvent) -> StopEvent:
        RUNS["last"] += 1
        state = await ctx.store.get_state()
        assert isinstance(state, Tally)
        return StopEvent(result=state.seen)


counting_runner = DurableWorkflowRunner(Counting)


@workflow
async def counting(ctx: WorkflowContext, word: str) -> list[str]:
    RUNS["edda run"] += 1
    return await counting_runner.run(ctx, word=word)


async def test_a_typed_state_model_is_restored_on_replay(app: EddaApp) -> None:
    iid = await counting.start(word="edda")

    assert await app.wait_for_result(iid, timeout=60) == ["edda", "EDDA"]
    assert RUNS == Counter({"edda run": 2, "first": 1, "pause": 1, "last": 1})
