"""hybrid_diagram on histories of real instances (SQLite files): counts, retries, the current step of running,
waiting and compensating instances, steps the code's graph has no place for, and diagrams from history alone."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from edda import (
    EddaApp,
    InstanceStatus,
    RetryPolicy,
    TerminalError,
    WorkflowContext,
    activity,
    compensation,
    on_failure,
    send_event,
    wait_event,
    workflow,
)
from edda_viewer.visualizer import analyze_workflow, hybrid_diagram
from edda_viewer.visualizer._escape import unescape_mermaid_label

_NODE = re.compile(r'^\s+([A-Za-z]\w*)(?:\(\[|\[\[|\[/|\{\{|\(|\[|\{|>)"(.*)"', re.MULTILINE)
_STATES = ("completed", "current", "failed", "compensated", "notReached", "cancelled")


class Diagram:
    """A hybrid diagram's nodes (label lines, classes) and edges, read from its Mermaid text."""

    def __init__(self, code: str) -> None:
        self.code = code
        self.labels = {i: [unescape_mermaid_label(p) for p in t.split("<br/>")] for i, t in _NODE.findall(code)}
        self.classes: dict[str, set[str]] = {}
        for ids, name in re.findall(r"^\s+class (\S+) (\w+)$", code, re.MULTILINE):
            for node_id in ids.split(","):
                self.classes.setdefault(node_id, set()).add(name)
        self.edges = re.findall(r"^\s+(\w+) (-->|-\.->|-\.compensation\.->)(?:\|\"?([^|\"]*)\"?\|)? (\w+)$", code, re.M)

    def node(self, first_line: str) -> str:
        found = [i for i, lines in self.labels.items() if lines[0] == first_line]
        assert len(found) == 1, (first_line, self.labels)
        return found[0]

    def state(self, first_line: str) -> set[str]:
        return self.classes.get(self.node(first_line), set()) & set(_STATES)

    def note(self, first_line: str) -> str:
        return self.labels[self.node(first_line)][-1]


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[EddaApp]:
    async with EddaApp(service_name="hybrid", db_url=f"sqlite:///{tmp_path / 'hybrid.db'}") as app:
        yield app


async def _poll(app: EddaApp, instance_id: str, status: str, *, history_has: str | None = None) -> Any:
    for _ in range(2000):
        record = await app.get_instance(instance_id)
        history = await app.storage.get_history(instance_id)
        if record is not None and record.status == status:
            if history_has is None or any(h.event_type == history_has for h in history):
                return record, history
        await asyncio.sleep(0.01)
    raise AssertionError(f"instance {instance_id} never reached {status}")


async def _finished(app: EddaApp, instance_id: str) -> tuple[Any, list[Any]]:
    try:
        await app.wait_for_result(instance_id, timeout=30)
    except Exception:
        pass
    record = await app.get_instance(instance_id)
    assert record is not None
    return record, await app.storage.get_history(instance_id)


# -- loops and retries -------------------------------------------------------------------------------------------

attempts: dict[str, int] = {}


@activity
async def hy_item(ctx: WorkflowContext, item: int) -> int:
    return item


@activity(retry_policy=RetryPolicy(initial_interval=0.001, backoff_coefficient=1.0, max_attempts=5))
async def hy_flaky(ctx: WorkflowContext, key: str) -> str:
    attempts[key] = attempts.get(key, 0) + 1
    if attempts[key] < 3:
        raise ConnectionError(f"attempt {attempts[key]}")
    return key


@workflow
async def hy_loop(ctx: WorkflowContext, key: str, count: int) -> None:
    for i in range(count):
        await hy_item(ctx, i)
    await hy_flaky(ctx, key)
    if count > 100:
        await hy_item(ctx, -1)


async def test_repeated_steps_show_counts_and_retries(app: EddaApp) -> None:
    instance_id = await hy_loop.start(key="loop", count=3)
    record, history = await _finished(app, instance_id)
    assert record.status == "completed"
    diagram = Diagram(hybrid_diagram(hy_loop, history, status=record.status))
    items = [i for i, lines in diagram.labels.items() if lines[0] == "hy_item"]
    assert len(items) == 2
    in_loop, in_branch = sorted(items, key=lambda i: int(i[1:]))
    assert diagram.labels[in_loop][-1] == "✓ done · ×3" and diagram.classes[in_loop] == {"completed"}
    assert diagram.classes[in_branch] == {"notReached"}
    assert diagram.note("hy_flaky") == "✓ done · 2 retries"
    assert diagram.state("hy_flaky") == {"completed"}


@activity(retry_policy=RetryPolicy(initial_interval=3600, max_attempts=3, max_duration=None))
async def hy_slow_retry(ctx: WorkflowContext) -> None:
    raise ConnectionError("down")


@workflow
async def hy_retrying(ctx: WorkflowContext) -> None:
    await hy_item(ctx, 1)
    await hy_slow_retry(ctx)
    await hy_item(ctx, 2)


async def test_a_running_instance_retrying_an_activity_shows_it_current(app: EddaApp) -> None:
    instance_id = await hy_retrying.start()
    record, history = await _poll(app, instance_id, InstanceStatus.RUNNING, history_has="ActivityAttemptFailed")
    diagram = Diagram(hybrid_diagram(hy_retrying, history, status=record.status))
    assert diagram.state("hy_slow_retry") == {"current"}
    assert diagram.note("hy_slow_retry") == "↻ retrying: 1 failed attempt"
    first, second = sorted(
        (i for i, lines in diagram.labels.items() if lines[0] == "hy_item"), key=lambda i: int(i[1:])
    )
    assert diagram.classes[first] == {"completed"} and diagram.classes[second] == {"notReached"}
    assert diagram.classes["End"] == {"notReached"}


# -- waits -------------------------------------------------------------------------------------------------------


@workflow
async def hy_two_waits(ctx: WorkflowContext) -> None:
    await wait_event(ctx, "hy.first")
    await wait_event(ctx, event_type="hy.second")
    await hy_item(ctx, 3)


async def test_the_wait_being_waited_on_is_current(app: EddaApp) -> None:
    instance_id = await hy_two_waits.start()
    await _poll(app, instance_id, InstanceStatus.WAITING_FOR_EVENT)
    await send_event("hy.first", "tests", {"n": 1})
    record, history = await _poll(app, instance_id, InstanceStatus.WAITING_FOR_EVENT, history_has="MessageReceived")
    for wait in (record.wait, None):
        diagram = Diagram(hybrid_diagram(hy_two_waits, history, status=record.status, wait=wait))
        assert diagram.state("wait_event: hy.first") == {"completed"}
        assert diagram.state("wait_event: hy.second") == {"current"}
        assert diagram.state("hy_item") == {"notReached"}
    assert diagram.note("wait_event: hy.second") == "⏳ waiting"
    with_wait = Diagram(hybrid_diagram(hy_two_waits, history, status=record.status, wait=record.wait))
    assert with_wait.note("wait_event: hy.second") == "⏳ waiting for hy.second"
    await app.cancel_workflow(instance_id)


# -- compensating, and a compensation chain ----------------------------------------------------------------------

release = asyncio.Event()


@compensation
async def hy_unbook(ctx: WorkflowContext, ref: str) -> None:
    if ref == "slow":
        await release.wait()


@activity
@on_failure(hy_unbook)
async def hy_book(ctx: WorkflowContext, ref: str) -> str:
    return ref


@activity
async def hy_fail(ctx: WorkflowContext) -> None:
    raise ValueError("no")


@workflow
async def hy_saga(ctx: WorkflowContext, first: str, second: str) -> None:
    await hy_book(ctx, first)
    await hy_book(ctx, second)
    await hy_fail(ctx)


async def test_a_compensating_instance_shows_the_compensation_running(app: EddaApp) -> None:
    release.clear()
    instance_id = await hy_saga.start(first="fast", second="slow")
    record, history = await _poll(app, instance_id, InstanceStatus.COMPENSATING)
    diagram = Diagram(hybrid_diagram(hy_saga, history, status=record.status))
    books = sorted((i for i, lines in diagram.labels.items() if lines[0] == "hy_book"), key=lambda i: int(i[1:]))
    comps = [target for source, arrow, _, target in diagram.edges if arrow == "-.compensation.->" and source in books]
    assert [diagram.classes[c] for c in comps] == [{"notReached"}, {"current"}]
    assert diagram.labels[comps[1]] == ["↩ hy_unbook", "▶ compensating"]
    assert diagram.state("hy_fail") == {"failed"}
    release.set()
    record, history = await _finished(app, instance_id)
    assert record.status == "failed"
    diagram = Diagram(hybrid_diagram(hy_saga, history, status=record.status))
    assert [diagram.classes[c] for c in comps] == [{"compensated"}, {"compensated"}]
    assert [diagram.classes[b] for b in books] == [{"compensated"}, {"compensated"}]
    fail = diagram.node("hy_fail")
    chain = [(s, t) for s, arrow, label, t in diagram.edges if arrow == "-.->" and label in ("compensate", "then")]
    assert chain == [(fail, comps[1]), (comps[1], comps[0])]  # newest first, from the step that failed


# -- steps the graph has no place for, and history alone ---------------------------------------------------------


async def _hy_helper(ctx: WorkflowContext) -> None:
    await hy_item(ctx, 10)
    await hy_item(ctx, 11)


@activity
async def hy_before(ctx: WorkflowContext) -> None:
    return None


@workflow
async def hy_with_helper(ctx: WorkflowContext) -> None:
    await hy_before(ctx)
    await _hy_helper(ctx)


async def test_activities_called_inside_a_helper_hang_after_the_step_before_them(app: EddaApp) -> None:
    instance_id = await hy_with_helper.start()
    record, history = await _finished(app, instance_id)
    diagram = Diagram(hybrid_diagram(hy_with_helper, history, status=record.status))
    before, helper = diagram.node("hy_before"), diagram.node("_hy_helper()")
    assert helper not in diagram.classes  # history records nothing for a plain function
    extras = [i for i, lines in diagram.labels.items() if lines[0] == "hy_item"]
    assert len(extras) == 1 and diagram.classes[extras[0]] == {"completed"}
    assert diagram.note("hy_item") == "✓ done · ×2"
    assert (before, "-.->", "", extras[0]) in diagram.edges


def _exec_workflow() -> Any:
    namespace: dict[str, Any] = {"workflow": workflow, "hy_item": hy_item, "hy_before": hy_before}
    exec(
        "@workflow\n"
        "async def hy_from_exec(ctx, n: int):\n"
        "    for i in range(n):\n"
        "        await hy_item(ctx, i)\n"
        "        await hy_before(ctx)\n",
        namespace,
    )
    return namespace["hy_from_exec"]


async def test_without_source_the_diagram_is_drawn_from_history(app: EddaApp) -> None:
    from_exec = _exec_workflow()
    instance_id = await from_exec.start(n=2)
    record, history = await _finished(app, instance_id)
    assert record.status == "completed"
    for target, title in ((from_exec, "hy_from_exec"), (None, "given-name")):
        diagram = Diagram(hybrid_diagram(target, history, status=record.status, name="given-name"))
        assert diagram.labels["Start"] == [title]
        item, before = diagram.node("hy_item"), diagram.node("hy_before")
        assert diagram.note("hy_item") == "✓ done · ×2" and diagram.note("hy_before") == "✓ done · ×2"
        assert ("Start", "-->", "", item) in diagram.edges and (item, "-->", "", before) in diagram.edges
        assert (before, "-.->", "again", item) in diagram.edges
        assert diagram.classes["End"] == {"completed"}


async def test_history_only_shows_a_wait_not_reached_before_as_current(app: EddaApp) -> None:
    instance_id = await hy_two_waits.start()
    record, history = await _poll(app, instance_id, InstanceStatus.WAITING_FOR_EVENT)
    diagram = Diagram(hybrid_diagram(None, history, status=record.status, wait=record.wait, name="hy_two_waits"))
    assert diagram.state("wait_event: hy.first") == {"current"}
    assert diagram.note("wait_event: hy.first") == "⏳ waiting for hy.first"
    await app.cancel_workflow(instance_id)


# -- options and bad input ---------------------------------------------------------------------------------------


async def test_a_graph_and_custom_styles_are_accepted(app: EddaApp) -> None:
    instance_id = await hy_loop.start(key="styles", count=1)
    record, history = await _finished(app, instance_id)
    graph = analyze_workflow(hy_loop)
    code = hybrid_diagram(graph, history, status=record.status, class_defs={"completed": "fill:#000,color:#fff"})
    assert code == hybrid_diagram(
        graph, history, status=record.status, class_defs={"completed": "fill:#000,color:#fff"}
    )
    assert "    classDef completed fill:#000,color:#fff" in code.splitlines()
    assert "classDef notReached" not in code  # only the classes given are defined
    assert Diagram(code).state("hy_flaky") == {"completed"}


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {"history": [], "status": "done"},
            ValueError,
            r"status must be an instance status \(running, .*\), got 'done'",
        ),
        ({"history": "abc", "status": "running"}, TypeError, "history must be a sequence of history entries"),
        ({"history": [], "status": "running", "wait": 3}, TypeError, "wait must be the instance's wait mapping"),
    ],
)
def test_bad_input_is_refused(kwargs: dict[str, Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        hybrid_diagram(None, **kwargs)


def test_an_empty_history_of_a_new_instance() -> None:
    diagram = Diagram(hybrid_diagram(hy_loop, [], status="running"))
    assert diagram.classes["Start"] == {"completed"}
    assert diagram.note("hy_flaky") == "hy_flaky"  # no note: not reached
    first_item = min((i for i, lines in diagram.labels.items() if lines[0] == "hy_item"), key=lambda i: int(i[1:]))
    assert diagram.classes[first_item] == {"current"}
    assert diagram.labels[first_item] == ["hy_item", "▶ running next"]


# -- gathered steps finish in any order; an except handler is entered from inside the try ------------------------

b_done = asyncio.Event()


@activity
async def hy_slow_branch(ctx: WorkflowContext) -> str:
    await b_done.wait()
    return "slow"


@activity
async def hy_fast_branch(ctx: WorkflowContext) -> str:
    b_done.set()
    return "fast"


@activity
async def hy_declined(ctx: WorkflowContext) -> None:
    raise TerminalError("declined")


@workflow
async def hy_gather_try(ctx: WorkflowContext) -> str:
    await asyncio.gather(hy_slow_branch(ctx), hy_fast_branch(ctx))
    try:
        await hy_declined(ctx)
        await hy_item(ctx, 1)
    except Exception:
        await hy_before(ctx)
    return "handled"


async def test_gathered_steps_and_except_handlers_are_found(app: EddaApp) -> None:
    b_done.clear()
    instance_id = await hy_gather_try.start()
    record, history = await _finished(app, instance_id)
    assert record.status == "completed"
    names = [h.event_data.get("activity_name") for h in history if h.event_type == "ActivityCompleted"]
    assert names[:2] == ["hy_fast_branch", "hy_slow_branch"]  # recorded in the order they finished
    diagram = Diagram(hybrid_diagram(hy_gather_try, history, status=record.status))
    assert diagram.state("hy_slow_branch") == {"completed"} and diagram.state("hy_fast_branch") == {"completed"}
    assert diagram.note("hy_slow_branch") == "✓ done"
    assert diagram.state("hy_declined") == {"failed"}
    assert diagram.note("hy_declined") == "✗ failed: TerminalError"
    assert diagram.state("hy_item") == {"notReached"}
    assert diagram.state("hy_before") == {"completed"}
    assert not [i for i in diagram.labels if i.startswith("x")]  # every entry found its step
