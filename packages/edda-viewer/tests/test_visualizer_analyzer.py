"""analyze_workflow and 0.16.2's WorkflowAnalyzer: the shapes users write, from source text and from real objects."""

from __future__ import annotations

import inspect
import json
import textwrap

import pytest

import edda
from edda import WorkflowContext, activity, compensation, on_failure, workflow
from edda import sleep as pause
from edda._activity import Activity
from edda_viewer.visualizer import (
    Branch,
    Break,
    Continue,
    Loop,
    Match,
    MermaidGenerator,
    Parallel,
    Raise,
    Return,
    Step,
    StepKind,
    Transaction,
    Try,
    WorkflowAnalyzer,
    WorkflowGraph,
    WorkflowSourceError,
    analyze_workflow,
    render_mermaid,
)
from edda_viewer.visualizer._legacy import graph_from_dict, graph_to_dict


def _body(code: str, params: str = "ctx") -> WorkflowGraph:
    return analyze_workflow(f"@workflow\nasync def wf({params}):\n" + textwrap.indent(textwrap.dedent(code), "    "))


def _kinds(graph: WorkflowGraph) -> list[tuple[str, str]]:
    return [(s.kind.value, s.name) for s in graph.steps()]


def test_awaited_calls_anywhere_in_a_statement_in_evaluation_order() -> None:
    graph = _body(
        """
        a = await first(ctx)
        await second(ctx, await inner(ctx))
        results.append(await third(ctx))
        total: int = await fourth(ctx)
        count += await fifth(ctx)
        return await last(ctx)
        """
    )
    assert _kinds(graph) == [
        ("activity", "first"),
        ("activity", "inner"),
        ("activity", "second"),
        ("activity", "third"),
        ("activity", "fourth"),
        ("activity", "fifth"),
        ("activity", "last"),
    ]
    assert [s.site for s in graph.steps()] == list(range(7))
    assert isinstance(graph.body[-1], Return)


def test_attribute_calls_are_steps_named_by_their_attribute() -> None:
    graph = _body("await billing.charge(ctx, 10)\nawait pkg.mod.ship(ctx)")
    steps = graph.steps()
    assert [(s.kind, s.name, s.call) for s in steps] == [
        (StepKind.ACTIVITY, "charge", "billing.charge"),
        (StepKind.ACTIVITY, "ship", "pkg.mod.ship"),
    ]


def test_calls_without_the_context_are_plain_calls() -> None:
    graph = _body("await helper(1)\nawait asyncio.sleep(1)\nawait ctx.storage.append_history(None, 'a', 'B')")
    assert [(s.kind, s.call) for s in graph.steps()] == [
        (StepKind.CALL, "helper"),
        (StepKind.CALL, "asyncio.sleep"),
        (StepKind.CALL, "ctx.storage.append_history"),
    ]


def test_if_elif_else_is_one_branch_with_the_awaited_test_before_it() -> None:
    graph = _body(
        """
        if not await check(ctx):
            await remind(ctx)
        elif amount > 100:
            await escalate(ctx)
        elif amount > 10:
            pass
        else:
            await small(ctx)
        """,
        "ctx, amount",
    )
    check, branch = graph.body
    assert isinstance(check, Step) and check.name == "check"
    assert isinstance(branch, Branch)
    assert [a.condition for a in branch.arms] == ["not await check(ctx)", "amount > 100", "amount > 10"]
    assert [[n.name for n in a.body if isinstance(n, Step)] for a in branch.arms] == [["remind"], ["escalate"], []]
    assert [n.name for n in branch.otherwise if isinstance(n, Step)] == ["small"]


def test_an_elif_that_awaits_is_nested_in_the_else() -> None:
    graph = _body("if a:\n    await one(ctx)\nelif await probe(ctx):\n    await two(ctx)")
    (branch,) = graph.body
    assert isinstance(branch, Branch) and len(branch.arms) == 1
    probe, inner = branch.otherwise
    assert isinstance(probe, Step) and probe.name == "probe"
    assert isinstance(inner, Branch) and inner.arms[0].condition == "await probe(ctx)"


def test_loops_break_continue_and_else() -> None:
    graph = _body(
        """
        for item in await load(ctx):
            if item is None:
                continue
            await handle(ctx, item)
            if item == "last":
                break
        else:
            await finished(ctx)
        while True:
            await tick(ctx)
        async for x in stream():
            await use(ctx, x)
        while n < 3:
            n += 1
        """
    )
    load, for_loop, forever, async_for, bounded = graph.body
    assert isinstance(load, Step) and load.name == "load"
    assert isinstance(for_loop, Loop) and for_loop.header == "for item in await load(ctx)"
    assert not for_loop.infinite and for_loop.kind == "for"
    assert any(isinstance(n, Branch) and isinstance(n.arms[0].body[0], Continue) for n in for_loop.body)
    assert any(isinstance(n, Branch) and isinstance(n.arms[0].body[0], Break) for n in for_loop.body)
    assert [n.name for n in for_loop.otherwise if isinstance(n, Step)] == ["finished"]
    assert isinstance(forever, Loop) and forever.infinite and forever.header == "while True"
    assert isinstance(async_for, Loop) and async_for.header == "async for x in stream()"
    assert isinstance(bounded, Loop) and not bounded.infinite and bounded.body == ()


def test_try_except_else_finally() -> None:
    graph = _body(
        """
        try:
            payment = await charge(ctx)
        except RetryExhaustedError as e:
            await notify(ctx)
            raise
        except (KeyError, ValueError):
            pass
        except:
            raise RuntimeError("boom") from None
        else:
            await receipt(ctx)
        finally:
            await audit(ctx)
        """
    )
    (node,) = graph.body
    assert isinstance(node, Try)
    assert [(h.exception, h.name) for h in node.handlers] == [
        ("RetryExhaustedError", "e"),
        ("(KeyError, ValueError)", None),
        (None, None),
    ]
    assert isinstance(node.handlers[0].body[-1], Raise) and node.handlers[0].body[-1].exception is None
    assert node.handlers[2].body == (Raise("RuntimeError('boom')", node.handlers[2].body[0].line),)
    assert [s.name for s in node.otherwise if isinstance(s, Step)] == ["receipt"]
    assert [s.name for s in node.final if isinstance(s, Step)] == ["audit"]


def test_match_case_with_guards_or_patterns_and_nesting() -> None:
    graph = _body(
        """
        match data.get("status", "unknown"):
            case "approved" | "accepted":
                await ship(ctx)
            case x if x > 100:
                match category:
                    case "vip":
                        await vip(ctx)
            case _:
                pass
        """
    )
    (node,) = graph.body
    assert isinstance(node, Match) and node.subject == "data.get('status', 'unknown')"
    assert [(c.pattern, c.guard) for c in node.cases] == [
        ("'approved' | 'accepted'", None),
        ("x", "x > 100"),
        ("_", None),
    ]
    inner = node.cases[1].body[0]
    assert isinstance(inner, Match) and inner.cases[0].pattern == "'vip'"
    assert node.cases[2].body == ()


def test_wait_event_takes_its_event_type_from_position_or_keyword() -> None:
    graph = _body(
        """
        a = await wait_event(ctx, "payment.completed")
        b = await wait_event(ctx, event_type="order.shipped", timeout_seconds=30)
        c = await wait_event(ctx, f"continue:{session_id}", 3600)
        d = await wait_event(ctx, kind, timeout_seconds=None, model=Paid)
        """
    )
    assert [(s.kind, s.detail, s.key, s.timeout) for s in graph.steps()] == [
        (StepKind.WAIT_EVENT, "payment.completed", "payment.completed", None),
        (StepKind.WAIT_EVENT, "order.shipped", "order.shipped", "30 s"),
        (StepKind.WAIT_EVENT, "f'continue:{session_id}'", None, "1 h"),
        (StepKind.WAIT_EVENT, "kind", None, None),
    ]


def test_timers_receives_events_messages_and_subscriptions() -> None:
    graph = _body(
        """
        await sleep(ctx, 3*24*60*60)
        await sleep(ctx, seconds=90)
        await wait_timer(ctx, duration_seconds=60)
        await sleep_until(ctx, tomorrow_9am)
        await wait_until(ctx, until_time=deadline)
        await sleep(ctx, delay)
        msg = await receive(ctx, "jobs", timeout_seconds=5)
        msg = await wait_message(ctx, channel="order.completed")
        await send_event("payment.requested", "payment-service", {"id": 1})
        await publish(ctx, "order.completed", {"id": 1})
        await send_to(ctx, instance_id="parent", data={})
        await send_to(ctx, parent_id, {}, "approval")
        await subscribe(ctx, channel="jobs", mode="competing")
        await join_group(ctx, group="watchers")
        await unsubscribe(ctx, "jobs")
        await leave_group(ctx, "watchers")
        await edda.wait_event(ctx, "qualified")
        """
    )
    assert [(s.kind.value, s.name, s.detail, s.key) for s in graph.steps()] == [
        ("sleep", "sleep", "3 d", None),
        ("sleep", "sleep", "90 s", None),
        ("sleep", "wait_timer", "1 min", None),
        ("sleep", "sleep_until", "tomorrow_9am", None),
        ("sleep", "wait_until", "deadline", None),
        ("sleep", "sleep", "delay", None),
        ("receive", "receive", "jobs", "jobs"),
        ("receive", "wait_message", "order.completed", "order.completed"),
        ("send_event", "send_event", "payment.requested", "payment.requested"),
        ("publish", "publish", "order.completed", "order.completed"),
        ("publish", "send_to", "parent", "__direct__"),
        ("publish", "send_to", "parent_id", "approval"),
        ("subscribe", "subscribe", "jobs (competing)", "jobs"),
        ("subscribe", "join_group", "watchers", "watchers"),
        ("unsubscribe", "unsubscribe", "jobs", "jobs"),
        ("unsubscribe", "leave_group", "watchers", "watchers"),
        ("wait_event", "wait_event", "qualified", "qualified"),
    ]
    assert graph.steps()[6].timeout == "5 s"


def test_compensations_recur_and_transactions() -> None:
    graph = _body(
        """
        await register_compensation(ctx, release_inventory, activity_id="reserve:1", rid=r["id"])
        await register_compensation(ctx, compensation_func=mod.refund)
        async with ctx.transaction():
            await send_event_transactional(ctx, "order.created", "orders", {})
            await record(ctx)
        async with lock:
            await inside(ctx)
        await ctx.recur(order_id=order_id)
        """
    )
    first, second, tx, inside, recur = graph.body
    assert isinstance(first, Step) and first.kind is StepKind.COMPENSATION
    assert (first.compensation, first.key, first.activity_id) == ("release_inventory", "release_inventory", "reserve:1")
    assert isinstance(second, Step) and second.compensation == "refund"
    assert isinstance(tx, Transaction) and tx.header == "ctx.transaction()"
    assert [(s.kind, s.name) for s in tx.body if isinstance(s, Step)] == [
        (StepKind.CALL, "send_event_transactional"),
        (StepKind.ACTIVITY, "record"),
    ]
    assert isinstance(inside, Step) and inside.name == "inside"
    assert isinstance(recur, Step) and recur.kind is StepKind.RECUR and recur.call == "ctx.recur"


def test_gather_of_calls_comprehensions_and_tasks_built_earlier() -> None:
    graph = _body(
        """
        await asyncio.gather(a(ctx), b(ctx, await c(ctx)))
        await asyncio.gather(*[item(ctx, i) for i in items])
        tasks = [ship(ctx, i) for i in items]
        pair = [left(ctx), right(ctx)]
        await asyncio.gather(*tasks, *pair)
        started = asyncio.create_task(background(ctx))
        await started
        r = await asyncio.wait_for(slow(ctx), timeout=5)
        values = [await fetch(ctx, k) for k in keys if await wanted(ctx, k)]
        """
    )
    g1, g2, g3, background, slow, comp = graph.body
    assert isinstance(g1, Parallel)
    assert [[s.name for s in b if isinstance(s, Step)] for b in g1.branches] == [["a"], ["c", "b"]]
    assert isinstance(g2, Parallel) and isinstance(g2.branches[0][0], Loop)
    assert g2.branches[0][0].header == "for i in items"
    assert isinstance(g3, Parallel) and len(g3.branches) == 3
    assert [s.name for b in g3.branches for s in b if isinstance(s, Step)] == ["left", "right"]
    assert isinstance(g3.branches[0][0], Loop) and [s.name for s in g3.branches[0][0].body] == ["ship"]  # type: ignore[union-attr]
    assert isinstance(background, Step) and background.name == "background"
    assert isinstance(slow, Step) and slow.name == "slow"
    assert isinstance(comp, Loop) and [s.name for s in comp.body if isinstance(s, Step)] == ["wanted", "fetch"]


def test_on_failure_in_the_same_source_names_the_compensation() -> None:
    source = '''
@compensation
async def cancel_reservation(ctx, item_id): ...

@activity
@on_failure(cancel_reservation)
async def reserve_inventory(ctx, item_id): ...

@workflow
async def order_workflow(ctx, item1, item2):
    """Reserve two items."""
    await reserve_inventory(ctx, item1)
    await charge_payment(ctx)
'''
    graph = analyze_workflow(source)
    assert [(s.name, s.compensation) for s in graph.steps()] == [
        ("reserve_inventory", "cancel_reservation"),
        ("charge_payment", None),
    ]
    assert graph.params == ("item1", "item2")


# -- from real objects -------------------------------------------------------------------------------------------


@compensation
async def undo_book(ctx: WorkflowContext, ref: str) -> None:
    return None


@activity
@on_failure(undo_book)
async def book(ctx: WorkflowContext, ref: str) -> dict[str, str]:
    return {"ref": ref}


async def _plain_helper(ctx: WorkflowContext) -> None:
    return None


renamed = Activity(_plain_helper, name="renamed_in_history")


@workflow
async def analyzer_objects(ctx: WorkflowContext, ref: str) -> None:
    await book(ctx, ref)
    await renamed(ctx)
    await _plain_helper(ctx)
    await pause(ctx, 5)
    await edda.wait_event(ctx, "done")


def test_names_are_resolved_to_the_objects_they_refer_to() -> None:
    graph = analyze_workflow(analyzer_objects)
    assert graph.name == "analyzer_objects"
    assert [(s.kind, s.name, s.compensation) for s in graph.steps()] == [
        (StepKind.ACTIVITY, "book", "undo_book"),
        (StepKind.ACTIVITY, "renamed_in_history", None),
        (StepKind.CALL, "_plain_helper", None),
        (StepKind.SLEEP, "sleep", None),
        (StepKind.WAIT_EVENT, "wait_event", None),
    ]
    _lines, start = inspect.getsourcelines(analyzer_objects.func)
    assert graph.line == start + 1  # the def line, after the decorator
    assert graph.steps()[0].line == start + 2


def test_the_function_itself_can_be_analysed() -> None:
    assert analyze_workflow(analyzer_objects.func).steps() == analyze_workflow(analyzer_objects).steps()


def test_a_workflow_nested_in_a_function_is_dedented_and_sees_its_closure() -> None:
    @activity
    async def local_step(ctx: WorkflowContext) -> None:
        return None

    @workflow
    async def nested_wf(ctx: WorkflowContext) -> None:
        """A docstring
        that is less indented than the code."""
        await local_step(ctx)
        text = """
also less indented"""
        await book(ctx, text)

    graph = analyze_workflow(nested_wf)
    assert [(s.kind, s.name) for s in graph.steps()] == [(StepKind.ACTIVITY, "local_step"), (StepKind.ACTIVITY, "book")]
    assert graph.steps()[0].line == inspect.getsourcelines(nested_wf.func)[1] + 4


def test_a_function_without_source_is_an_error_that_says_so() -> None:
    namespace: dict[str, object] = {}
    exec("async def made_by_exec(ctx):\n    await x(ctx)\n", namespace)
    with pytest.raises(WorkflowSourceError, match="source of workflow 'made_by_exec' is not available"):
        analyze_workflow(namespace["made_by_exec"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("source", "name", "message"),
    [
        ("@workflow\nasync def a(ctx): pass\n@workflow\nasync def b(ctx): pass\n", None, r"several workflows \(a, b\)"),
        ("@workflow\nasync def a(ctx): pass\n", "zzz", r"no function 'zzz' \(workflows in it: a\)"),
        ("x = 1\n", None, "no @workflow function"),
        ("@workflow\nasync def a(ctx)\n    pass\n", None, r"does not parse: .*\(line 2\)"),
    ],
)
def test_source_errors_say_what_is_wrong(source: str, name: str | None, message: str) -> None:
    with pytest.raises(WorkflowSourceError, match=message):
        analyze_workflow(source, name=name)


def test_source_chooses_by_name_or_takes_a_lone_async_function() -> None:
    two = "@workflow\nasync def a(ctx):\n    await one(ctx)\n@saga\nasync def b(ctx):\n    await two(ctx)\n"
    assert [s.name for s in analyze_workflow(two, name="b").steps()] == ["two"]
    assert analyze_workflow("async def lone(ctx):\n    await it(ctx)\n").name == "lone"


def test_wrong_target_type() -> None:
    with pytest.raises(TypeError, match="takes workflow source text, an edda.Workflow or a function, got int"):
        analyze_workflow(3)  # type: ignore[arg-type]


# -- 0.16.2's dictionaries ---------------------------------------------------------------------------------------

_LEGACY_SOURCE = '''
@workflow
async def match_workflow(ctx, status: str):
    """Workflow with simple match-case."""
    match status:
        case "pending":
            await send_notification(ctx)
        case _:
            await log_unknown(ctx)
    await wait_event(ctx, event_type=f"workflow.continue:{status}", timeout_seconds=30)
    if status:
        await a(ctx)
    for x in y:
        await b(ctx)
    try:
        await c(ctx)
    finally:
        pass

@workflow(event_handler=True)
async def second(ctx): ...
'''


def test_workflow_analyzer_returns_016_shaped_dicts() -> None:
    workflows = WorkflowAnalyzer().analyze(_LEGACY_SOURCE)
    assert [w["name"] for w in workflows] == ["match_workflow", "second"]
    first = workflows[0]
    assert first["args"] == ["status"]
    match, wait, *_ = first["steps"]
    assert match["type"] == "match" and match["subject"] == "status"
    assert [(c["pattern"], c["guard"]) for c in match["cases"]] == [("'pending'", None), ("_", None)]
    assert match["cases"][0]["body"][0]["type"] == "activity"
    assert match["cases"][0]["body"][0]["activity_name"] == "send_notification"
    assert wait["type"] == "wait_event" and wait["event_type"] == "f'workflow.continue:{status}'"
    assert wait["timeout"] == "30 s"
    assert json.loads(json.dumps(workflows)) == workflows


def test_dicts_read_back_to_the_same_graph_and_diagram() -> None:
    graph = analyze_workflow(_LEGACY_SOURCE, name="match_workflow")
    assert graph_from_dict(graph_to_dict(graph)) == graph
    legacy = WorkflowAnalyzer().analyze(_LEGACY_SOURCE)[0]
    assert MermaidGenerator().generate(legacy) == render_mermaid(graph)


def test_hand_written_016_dicts_render() -> None:
    mermaid = MermaidGenerator().generate(
        {
            "name": "test_match",
            "args": ["status"],
            "steps": [
                {
                    "type": "match",
                    "subject": "status",
                    "cases": [
                        {
                            "pattern": "'pending'",
                            "guard": "x > 100",
                            "body": [{"type": "activity", "function": "notify", "activity_name": "notify"}],
                        },
                        {"pattern": "_", "guard": None, "body": []},
                    ],
                },
                {"type": "wait_event", "event_type": "f'workflow.continue:{session_id}'", "timeout": 30},
            ],
        }
    )
    assert 'n1{"match status"}' in mermaid
    assert '|"case #39;pending#39; if x #62; 100"|' not in mermaid  # quotes stay readable
    assert "|\"case 'pending' if x #62; 100\"|" in mermaid
    assert 'n2["notify"]' in mermaid
    assert "{{\"wait_event: f'workflow.continue:#123;session_id#125;'<br/>timeout: 30 s\"}}" in mermaid


@pytest.mark.parametrize(
    ("workflow_dict", "message"),
    [
        ([], "a workflow description is a dict"),
        ({"steps": []}, "needs a non-empty string 'name'"),
        ({"name": "w", "steps": "x"}, "steps must be a list"),
        ({"name": "w", "steps": [3]}, r"steps\[0\] must be a dict"),
        (
            {"name": "w", "steps": [{"type": "teleport"}]},
            r"steps\[0\] has unknown type 'teleport'; known types: .*activity",
        ),
    ],
)
def test_bad_dicts_are_refused_with_the_reason(workflow_dict: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MermaidGenerator().generate(workflow_dict)  # type: ignore[arg-type]
