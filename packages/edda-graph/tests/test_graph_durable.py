"""DurableGraph runs real pydantic-graph nodes inside Edda workflows on a real SQLite file."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
from pydantic import BaseModel
from pydantic_graph import BaseNode, End, GraphRunContext

from edda import EddaApp, EventTimeoutError, WorkflowContext, WorkflowFailedError, send_event, workflow
from edda.storage.records import HistoryEventType
from edda_graph import DurableGraph, DurableGraphContext, GraphExecutionError, Sleep, WaitForEvent

from .conftest import QUICK_RETRY, completed_nodes, history_types, wait_status

RUNS: Counter[str] = Counter()  # node executions (replayed nodes do not count)


@pytest.fixture(autouse=True)
def _fresh_counts() -> None:
    RUNS.clear()


def cloudevent(event_type: str, data: Any, event_id: str = "evt-1") -> dict[str, Any]:
    return {"specversion": "1.0", "type": event_type, "source": "tests", "id": event_id, "data": data}


# -- branching, with the state carried from node to node ---------------------------------------------------------


@dataclass
class Order:
    amount: float
    log: list[str] = field(default_factory=list)


@dataclass
class Check(BaseNode[Order, None, str]):
    async def run(self, ctx: GraphRunContext[Order, None]) -> Approve | Reject:
        RUNS["Check"] += 1
        ctx.state.log.append(f"checked {ctx.state.amount}")
        return Approve(limit=100) if ctx.state.amount <= 100 else Reject(reason="over the limit")


@dataclass
class Approve(BaseNode[Order, None, str]):
    limit: int

    async def run(self, ctx: GraphRunContext[Order, None]) -> End[str]:
        RUNS["Approve"] += 1
        ctx.state.log.append(f"approved under {self.limit}")
        return End("approved")


@dataclass
class Reject(BaseNode[Order, None, str]):
    reason: str

    async def run(self, ctx: GraphRunContext[Order, None]) -> End[str]:
        RUNS["Reject"] += 1
        ctx.state.log.append(f"rejected: {self.reason}")
        return End("rejected")


orders = DurableGraph([Check, Approve, Reject])


@workflow
async def order_graph(ctx: WorkflowContext, amount: float) -> dict[str, Any]:
    state = Order(amount=amount)
    outcome = await orders.run(ctx, Check(), state=state)
    return {"outcome": outcome, "log": state.log}


async def test_nodes_choose_the_next_node_and_the_state_is_carried(app: EddaApp) -> None:
    small = await order_graph.start(amount=40)
    large = await order_graph.start(amount=400)

    assert await app.wait_for_result(small, timeout=60) == {
        "outcome": "approved",
        "log": ["checked 40.0", "approved under 100"],
    }
    assert await app.wait_for_result(large, timeout=60) == {
        "outcome": "rejected",
        "log": ["checked 400.0", "rejected: over the limit"],
    }
    assert await completed_nodes(app, small) == ["Check", "Approve"]
    assert await completed_nodes(app, large) == ["Check", "Reject"]
    assert RUNS == Counter(Check=2, Approve=1, Reject=1)


# -- WaitForEvent suspends the run; the resumed run replays recorded nodes ----------------------------------------


@dataclass
class Ticket:
    notes: list[str] = field(default_factory=list)


@dataclass
class Open(BaseNode[Ticket, None, dict[str, Any]]):
    title: str

    async def run(self, ctx: DurableGraphContext[Ticket, None]) -> WaitForEvent:
        RUNS["Open"] += 1
        ctx.state.notes.append(f"opened {self.title}")
        return WaitForEvent("ticket.answered", Answered(title=self.title), timeout_seconds=60)


@dataclass
class Answered(BaseNode[Ticket, None, dict[str, Any]]):
    title: str

    async def run(self, ctx: DurableGraphContext[Ticket, None]) -> Close:
        RUNS["Answered"] += 1
        assert ctx.last_event is not None
        ctx.state.notes.append(f"answer: {ctx.last_event.data['text']}")
        return Close()


@dataclass
class Close(BaseNode[Ticket, None, dict[str, Any]]):
    async def run(self, ctx: DurableGraphContext[Ticket, None]) -> End[dict[str, Any]]:
        RUNS["Close"] += 1
        event = ctx.last_event  # the most recent event stays visible to the nodes after it
        assert event is not None
        return End({"notes": ctx.state.notes, "from": event.metadata["source"], "type": event.event_type})


tickets = DurableGraph([Open, Answered, Close])


@workflow
async def ticket_graph(ctx: WorkflowContext, title: str) -> dict[str, Any]:
    return await tickets.run(ctx, Open(title=title), state=Ticket())


async def test_a_wait_releases_the_worker_and_the_resumed_run_replays_recorded_nodes(any_db_app: EddaApp) -> None:
    app = any_db_app
    iid = await ticket_graph.start(title="printer")
    await wait_status(app, iid, "waiting_for_event")
    assert RUNS == Counter(Open=1)

    await app.handle_cloudevent(cloudevent("ticket.answered", {"text": "turn it off and on"}))

    assert await app.wait_for_result(iid, timeout=60) == {
        # "opened printer" was appended by Open, which did not run again: the state came from history
        "notes": ["opened printer", "answer: turn it off and on"],
        "from": "tests",
        "type": "ticket.answered",
    }
    assert RUNS == Counter(Open=1, Answered=1, Close=1)
    assert [kind for _, kind in await history_types(app, iid)].count(HistoryEventType.MESSAGE_RECEIVED) == 1


async def test_an_event_from_send_event_ends_the_wait(app: EddaApp) -> None:
    iid = await ticket_graph.start(title="vpn")
    await wait_status(app, iid, "waiting_for_event")

    await send_event("ticket.answered", "helpdesk", {"text": "reconnect"})

    result = await app.wait_for_result(iid, timeout=60)
    assert result["notes"] == ["opened vpn", "answer: reconnect"] and result["from"] == "helpdesk"


# -- Sleep, and a wait that times out ----------------------------------------------------------------------------


@dataclass
class Remind(BaseNode[None, None, str]):
    mode: str

    async def run(self, ctx: DurableGraphContext[None, None]) -> Sleep | WaitForEvent:
        RUNS["Remind"] += 1
        if self.mode == "sleep":
            return Sleep(0.5, Report(outcome="slept"))
        on_timeout = Report(outcome="gave up") if self.mode == "fallback" else None
        return WaitForEvent("never.sent", Report(outcome="answered"), timeout_seconds=0.2, on_timeout=on_timeout)


@dataclass
class Report(BaseNode[None, None, str]):
    outcome: str

    async def run(self, ctx: DurableGraphContext[None, None]) -> End[str]:
        RUNS["Report"] += 1
        return End(f"{self.outcome} (last event: {ctx.last_event})")


reminders = DurableGraph([Remind, Report])


@workflow
async def reminder_graph(ctx: WorkflowContext, mode: str) -> str:
    RUNS["edda run"] += 1  # the workflow function runs again on every replay
    try:
        return await reminders.run(ctx, Remind(mode=mode), state=None)
    except EventTimeoutError as exc:
        return f"timed out: {exc}"


async def test_sleep_pauses_durably_then_continues_with_its_next_node(app: EddaApp) -> None:
    iid = await reminder_graph.start(mode="sleep")

    assert await app.wait_for_result(iid, timeout=60) == "slept (last event: None)"
    assert RUNS == Counter({"edda run": 2, "Remind": 1, "Report": 1})  # suspended, then replayed without Remind
    assert HistoryEventType.TIMER_FIRED in [kind for _, kind in await history_types(app, iid)]


async def test_a_timed_out_wait_continues_with_on_timeout(app: EddaApp) -> None:
    iid = await reminder_graph.start(mode="fallback")
    assert await app.wait_for_result(iid, timeout=60) == "gave up (last event: None)"


async def test_a_timed_out_wait_without_on_timeout_raises_event_timeout_error(app: EddaApp) -> None:
    iid = await reminder_graph.start(mode="strict")
    result = await app.wait_for_result(iid, timeout=60)
    assert result.startswith("timed out:") and RUNS["Report"] == 0


# -- failures -------------------------------------------------------------------------------------------------------


@dataclass
class Fetch(BaseNode[None, None, str]):
    failures: int

    async def run(self, ctx: GraphRunContext[None, None]) -> End[str]:
        RUNS["Fetch"] += 1
        if RUNS["Fetch"] <= self.failures:
            raise ConnectionError(f"attempt {RUNS['Fetch']} refused")
        return End("fetched")


fetches = DurableGraph([Fetch], retry_policy=QUICK_RETRY)


@workflow
async def fetch_graph(ctx: WorkflowContext, failures: int) -> dict[str, Any]:
    try:
        return {"result": await fetches.run(ctx, Fetch(failures=failures), state=None)}
    except GraphExecutionError as exc:
        return {"error": str(exc), "node": exc.node_id, "cause": type(exc.__cause__).__name__}


async def test_a_failing_node_is_retried_as_an_activity(app: EddaApp) -> None:
    iid = await fetch_graph.start(failures=2)

    assert await app.wait_for_result(iid, timeout=60) == {"result": "fetched"}
    assert RUNS["Fetch"] == 3
    kinds = [kind for _, kind in await history_types(app, iid)]
    assert kinds.count(HistoryEventType.ACTIVITY_ATTEMPT_FAILED) == 2


async def test_a_node_failing_for_good_is_a_graph_execution_error(app: EddaApp) -> None:
    iid = await fetch_graph.start(failures=10)

    result = await app.wait_for_result(iid, timeout=60)
    assert result["node"] == "Fetch" and result["cause"] == "RetryExhaustedError"
    assert result["error"].startswith("Node 'Fetch' failed: RetryExhaustedError")
    assert RUNS["Fetch"] == 3


# -- pydantic state, typed End data, deps ---------------------------------------------------------------------------


class Cart(BaseModel):
    items: list[str] = []
    total: float = 0.0


class Receipt(BaseModel):
    items: list[str]
    total: float


class Prices:
    """Dependencies: handed to nodes as they are, never recorded."""

    def __init__(self) -> None:
        self.lookups = 0

    def price(self, item: str) -> float:
        self.lookups += 1
        return {"tea": 3.5, "cake": 4.0}[item]


@dataclass
class AddItem(BaseNode[Cart, Prices, Receipt]):
    item: str
    then: list[str]

    async def run(self, ctx: DurableGraphContext[Cart, Prices]) -> AddItem | Sleep | Checkout:
        RUNS[f"AddItem {self.item}"] += 1
        ctx.state.items.append(self.item)
        ctx.state.total += ctx.deps.price(self.item)
        if self.then:
            following = AddItem(item=self.then[0], then=self.then[1:])
            return Sleep(0.5, following) if self.item == "tea" else following
        return Checkout()


@dataclass
class Checkout(BaseNode[Cart, Prices, Receipt]):
    async def run(self, ctx: DurableGraphContext[Cart, Prices]) -> End[Receipt]:
        RUNS["Checkout"] += 1
        return End(Receipt(items=ctx.state.items, total=ctx.state.total))


carts = DurableGraph([AddItem, Checkout])


@workflow
async def cart_graph(ctx: WorkflowContext) -> dict[str, Any]:
    cart, prices = Cart(), Prices()
    receipt = await carts.run(ctx, AddItem(item="tea", then=["cake"]), state=cart, deps=prices)
    assert isinstance(receipt, Receipt)  # End[Receipt]: the model comes back as a model, also on replay
    return {"receipt": receipt.model_dump(), "cart": cart.model_dump(), "lookups": prices.lookups}


async def test_pydantic_state_and_typed_end_data_survive_replay(any_db_app: EddaApp) -> None:
    app = any_db_app
    iid = await cart_graph.start()

    result = await app.wait_for_result(iid, timeout=60)
    assert result["receipt"] == {"items": ["tea", "cake"], "total": 7.5}
    assert result["cart"] == {"items": ["tea", "cake"], "total": 7.5}  # the caller's state object, updated in place
    # The sleep ended the first run; the run that finished replayed AddItem tea (no lookup) and looked up cake only.
    assert result["lookups"] == 1
    assert RUNS == Counter({"AddItem tea": 1, "AddItem cake": 1, "Checkout": 1})


# -- bad input ------------------------------------------------------------------------------------------------------


class NotAGraphNode(BaseNode[None, None, str]):
    async def run(self, ctx: GraphRunContext[None, None]) -> End[str]:
        return End("x")


@dataclass
class Stray(BaseNode[None, None, str]):
    async def run(self, ctx: GraphRunContext[None, None]) -> NotAGraphNode:
        RUNS["Stray"] += 1
        return NotAGraphNode()


strays = DurableGraph([Stray], retry_policy=QUICK_RETRY)


@workflow
async def stray_graph(ctx: WorkflowContext, start_outside: bool) -> str:
    try:
        start = NotAGraphNode() if start_outside else Stray()
        return await strays.run(ctx, start, state=None)
    except GraphExecutionError as exc:
        return str(exc)


async def test_a_node_outside_the_graph_is_refused_without_retrying(app: EddaApp) -> None:
    returned = await app.wait_for_result(await stray_graph.start(start_outside=False), timeout=60)
    assert "Node 'Stray' returned a NotAGraphNode, which is not a node of this graph (its nodes: Stray)" in returned
    assert RUNS["Stray"] == 1  # a programming error, not retried

    started = await app.wait_for_result(await stray_graph.start(start_outside=True), timeout=60)
    assert started.startswith("The start node is a NotAGraphNode, which is not a node of this graph")


@workflow
async def bad_state_graph(ctx: WorkflowContext) -> str:
    try:
        await orders.run(ctx, Check(), state={"amount": 1})
    except TypeError as exc:
        return str(exc)
    return "ran"


async def test_state_must_be_a_dataclass_or_a_model(app: EddaApp) -> None:
    message = await app.wait_for_result(await bad_state_graph.start(), timeout=60)
    assert message == (
        "DurableGraph records the state between nodes, so it must be a dataclass or a pydantic model (or None); "
        "got dict."
    )


def test_the_graph_must_be_node_classes() -> None:
    with pytest.raises(TypeError, match="a sequence of BaseNode subclasses"):
        DurableGraph("Check")
    with pytest.raises(TypeError, match="a sequence of BaseNode subclasses"):
        DurableGraph([Check, dict])
    with pytest.raises(TypeError, match="edda.RetryPolicy"):
        DurableGraph([Check], retry_policy=3)


async def test_an_uncaught_graph_failure_fails_the_workflow(app: EddaApp) -> None:
    @workflow
    async def uncaught_fetch(ctx: WorkflowContext) -> str:
        return await fetches.run(ctx, Fetch(failures=10), state=None)

    with pytest.raises(WorkflowFailedError, match="GraphExecutionError"):
        await app.wait_for_result(await uncaught_fetch.start(), timeout=60)


@dataclass
class Tally:
    marks: list[str] = field(default_factory=list)


@dataclass
class Mark(BaseNode[Tally, None, list[str]]):
    async def run(self, ctx: GraphRunContext[Tally, None]) -> End[list[str]]:
        RUNS["Mark"] += 1
        ctx.state.marks.append(f"attempt {RUNS['Mark']}")
        if RUNS["Mark"] == 1:
            raise TimeoutError("the first attempt dies after changing the state")
        return End(list(ctx.state.marks))


marks = DurableGraph([Mark], retry_policy=QUICK_RETRY)


@workflow
async def mark_graph(ctx: WorkflowContext) -> dict[str, list[str]]:
    tally = Tally(marks=["start"])
    seen = await marks.run(ctx, Mark(), state=tally)
    return {"seen": seen, "state": tally.marks}


async def test_each_attempt_starts_from_the_recorded_state(app: EddaApp) -> None:
    result = await app.wait_for_result(await mark_graph.start(), timeout=60)
    # The failed attempt's change is gone: the retry saw the state as it was before the node.
    assert result == {"seen": ["start", "attempt 2"], "state": ["start", "attempt 2"]}
