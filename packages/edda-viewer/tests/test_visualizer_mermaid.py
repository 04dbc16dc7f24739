"""render_mermaid: the flowchart's structure as text; the seed documents' workflows; the sub-package's surface."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

import edda_viewer.visualizer as visualizer
from edda_viewer.visualizer import WorkflowAnalyzer, analyze_workflow, render_mermaid

SEED_EXAMPLES = Path(__file__).resolve().parents[3] / "tests" / "seed_examples" / "examples"
PACKAGE = Path(visualizer.__file__).parent
_NODE_LINE = re.compile(r'^\s+([A-Za-z]\w*)(?:\(\[|\[\[|\[/|\{\{|\(|\[|\{|>)"(.*)"', re.MULTILINE)
_EDGE = re.compile(r"^\s+(\w+) (-->|-\.->|-\.compensation\.->)(?:\|\"?([^|\"]*)\"?\|)? (\w+)$", re.MULTILINE)


def _render(body: str) -> str:
    return render_mermaid(analyze_workflow("@workflow\nasync def wf(ctx):\n" + body))


def _nodes(code: str) -> dict[str, str]:
    return dict(_NODE_LINE.findall(code))


def _edges(code: str) -> list[tuple[str, str, str, str]]:
    return _EDGE.findall(code)


def _id_of(code: str, label: str) -> str:
    found = [node_id for node_id, text in _nodes(code).items() if text == label]
    assert len(found) == 1, (label, _nodes(code))
    return found[0]


def test_start_steps_and_end_in_order() -> None:
    code = _render("    a = await first(ctx)\n    await second(ctx)\n")
    lines = code.splitlines()
    assert lines[0] == "flowchart TD"
    assert lines[1] == '    Start(["wf"])'
    first, second = _id_of(code, "first"), _id_of(code, "second")
    assert ("Start", "-->", "", first) in _edges(code)
    assert (first, "-->", "", second) in _edges(code)
    assert (second, "-->", "", "End") in _edges(code)
    assert '    End(["end"])' in lines


def test_conditions_are_diamonds_with_yes_and_no() -> None:
    code = _render("    if x > 1:\n        await big(ctx)\n    else:\n        await small(ctx)\n    await after(ctx)\n")
    decision = _id_of(code, "x #62; 1")
    assert f'{decision}{{"x #62; 1"}}' in code
    big, small, after = _id_of(code, "big"), _id_of(code, "small"), _id_of(code, "after")
    edges = _edges(code)
    assert (decision, "-->", "yes", big) in edges
    assert (decision, "-->", "no", small) in edges
    assert (big, "-->", "", after) in edges and (small, "-->", "", after) in edges


def test_loops_have_a_back_edge_and_exits() -> None:
    code = _render(
        "    for item in items:\n"
        "        if item:\n"
        "            continue\n"
        "        await handle(ctx, item)\n"
        "        if item == 2:\n"
        "            break\n"
        "    await after(ctx)\n"
    )
    head, handle, after = _id_of(code, "for item in items"), _id_of(code, "handle"), _id_of(code, "after")
    skip, stop = _id_of(code, "item"), _id_of(code, "item == 2")
    edges = _edges(code)
    assert (head, "-->", "each", skip) in edges
    assert (skip, "-->", "yes", head) in edges  # continue
    assert (stop, "-->", "no", head) in edges  # back edge from the end of the body
    assert (stop, "-->", "yes", after) in edges  # break
    assert (head, "-->", "done", after) in edges
    assert handle in {e[3] for e in edges}


def test_while_true_is_left_only_by_break_return_or_recur() -> None:
    code = _render("    while True:\n        await tick(ctx)\n        await ctx.recur()\n")
    head, tick, recur = (
        _id_of(code, "while True"),
        _id_of(code, "tick"),
        _id_of(code, "ctx.recur()<br/>restarts with fresh history"),
    )
    edges = _edges(code)
    assert (head, "-->", "true", tick) in edges
    assert (recur, "-.->", "recur", "Start") in edges
    assert not [e for e in edges if e[0] == head and e[2] in ("false", "done")]
    assert not [e for e in edges if e[3] == "End"]


def test_waits_are_hexagons_and_compensations_hang_off_dashed() -> None:
    code = _render(
        "    await wait_event(ctx, 'paid', timeout_seconds=60)\n"
        "    await register_compensation(ctx, refund, amount=1)\n"
    )
    wait = _id_of(code, "wait_event: paid<br/>timeout: 1 min")
    assert f'{wait}{{{{"wait_event: paid<br/>timeout: 1 min"}}}}' in code
    register = _id_of(code, "register_compensation: refund")
    comp = _id_of(code, "↩ refund")
    assert (register, "-.compensation.->", "", comp) in _edges(code)
    assert f"class {comp} compensation" in code


def test_returns_go_to_end_and_raise_ends_the_path() -> None:
    code = _render(
        "    if a:\n        return await early(ctx)\n    if b:\n        raise ValueError('no')\n    await late(ctx)\n"
    )
    early, late, raised = _id_of(code, "early"), _id_of(code, "late"), _id_of(code, "raise ValueError('no')")
    edges = _edges(code)
    assert (early, "-->", "", "End") in edges and (late, "-->", "", "End") in edges
    assert not [e for e in edges if e[0] == raised]


def test_try_handlers_hang_off_a_dashed_error_edge() -> None:
    code = _render(
        "    try:\n        await risky(ctx)\n    except KeyError as e:\n        await fix(ctx)\n"
        "    finally:\n        await cleanup(ctx)\n"
    )
    start, handler = _id_of(code, "try"), _id_of(code, "except KeyError as e")
    final, cleanup = _id_of(code, "finally"), _id_of(code, "cleanup")
    edges = _edges(code)
    assert (start, "-.->", "KeyError", handler) in edges
    assert (_id_of(code, "risky"), "-->", "", final) in edges and (_id_of(code, "fix"), "-->", "", final) in edges
    assert (final, "-->", "", cleanup) in edges


def test_match_without_a_catch_all_has_a_no_match_edge() -> None:
    code = _render("    match s:\n        case 1:\n            await one(ctx)\n    await after(ctx)\n")
    decision, after = _id_of(code, "match s"), _id_of(code, "after")
    assert (decision, "-->", "no match", after) in _edges(code)
    code = _render("    match s:\n        case 1:\n            await one(ctx)\n        case _:\n            pass\n")
    assert not [e for e in _edges(code) if e[2] == "no match"]


def test_transaction_is_a_subgraph_and_edges_stay_outside_it() -> None:
    code = _render("    async with ctx.transaction():\n        await inside(ctx)\n    await outside(ctx)\n")
    lines = code.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("subgraph "))
    end = next(i for i in range(start, len(lines)) if lines[i].strip() == "end")
    assert lines[start].strip().endswith('["ctx.transaction()"]')
    inside_block = lines[start + 1 : end]
    assert any('"inside"' in line for line in inside_block)
    assert not any("-->" in line for line in inside_block)
    assert all("-->" not in line for line in lines[:start])


def test_node_ids_are_never_taken_from_user_text() -> None:
    code = _render("    await end(ctx)\n    await subgraph(ctx)\n    await graph(ctx)\n")
    ids = set(_nodes(code)) | {e[0] for e in _edges(code)} | {e[3] for e in _edges(code)}
    assert all(re.fullmatch(r"Start|End|[ncx]\d+|tx\d+", i) for i in ids), ids
    assert {"end", "subgraph", "graph"} <= set(_nodes(code).values())


def test_render_mermaid_refuses_other_objects() -> None:
    with pytest.raises(TypeError, match=r"takes a WorkflowGraph \(from analyze_workflow\), got dict"):
        render_mermaid({"name": "x"})  # type: ignore[arg-type]


# -- the seed documents --------------------------------------------------------------------------------------------


def _seed(stem: str) -> str:
    return (SEED_EXAMPLES / f"{stem}.py").read_text(encoding="utf-8")


def test_every_seed_workflow_produces_a_diagram_with_all_its_steps() -> None:
    count = 0
    for path in sorted(SEED_EXAMPLES.glob("*.py")):
        source = path.read_text(encoding="utf-8")
        for described in WorkflowAnalyzer().analyze(source):
            graph = analyze_workflow(source, name=described["name"])
            code = render_mermaid(graph)
            assert code.startswith("flowchart TD\n") and "End([" in code, path.name
            step_nodes = [i for i in _nodes(code) if re.fullmatch(r"n\d+", i)]
            assert len(step_nodes) >= len(graph.steps()), path.name
            count += 1
    assert count >= 40


def test_seed_shapes() -> None:
    reminder = render_mermaid(analyze_workflow(_seed("000_01_onboarding_reminder")))
    assert '{{"wait_timer: 3 d"}}' in reminder and '{"not await check_completed(ctx, user_id)"}' in reminder
    saga = render_mermaid(analyze_workflow(_seed("004_19_saga_workflow")))
    assert '("↩ undo_a")' in saga and '("↩ undo_b")' in saga and saga.count("-.compensation.->") == 2
    worker = render_mermaid(analyze_workflow(_seed("001_29_job_worker"), name="job_worker"))
    assert "-.->|recur| Start" in worker and '{{"receive: jobs"}}' in worker
    payment = render_mermaid(analyze_workflow(_seed("001_25_payment_workflow")))
    assert '>"send_event: payment.requested"]' in payment and '{{"wait_event: payment.completed"}}' in payment
    batch = render_mermaid(analyze_workflow(_seed("004_15_batch_workflow")))
    assert "id: f'process_item:#123;i + 1#125;'" in batch


# -- the sub-package's surface -------------------------------------------------------------------------------------


def test_public_names() -> None:
    assert set(visualizer.__all__) == {
        "DEFAULT_CLASS_DEFS",
        "Arm",
        "Branch",
        "Break",
        "Case",
        "Continue",
        "Handler",
        "Loop",
        "Match",
        "MermaidGenerator",
        "Node",
        "Parallel",
        "Raise",
        "Return",
        "Step",
        "StepKind",
        "Transaction",
        "Try",
        "WorkflowAnalyzer",
        "WorkflowGraph",
        "WorkflowSourceError",
        "analyze_workflow",
        "escape_mermaid_label",
        "hybrid_diagram",
        "render_mermaid",
    }
    for name in visualizer.__all__:
        assert getattr(visualizer, name) is not None


def test_the_sub_package_imports_only_the_standard_library_and_edda() -> None:
    for module in sorted(PACKAGE.glob("*.py")):
        tree = ast.parse(module.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots = [alias.name.split(".")[0] for alias in node.names]
                full = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                assert node.level == 0 and node.module, module.name
                roots, full = [node.module.split(".")[0]], [node.module]
            else:
                continue
            for root, name in zip(roots, full, strict=True):
                allowed = root in sys.stdlib_module_names or root == "edda" or name.startswith("edda_viewer.visualizer")
                assert allowed, f"{module.name} imports {name}"
