"""0.16.2's names: ``WorkflowAnalyzer().analyze(source)`` returns workflows as dictionaries and
``MermaidGenerator().generate(workflow_dict)`` draws one; both are built on :class:`WorkflowGraph`.

The dictionaries keep 0.16.2's keys where it had them (``name``, ``args``, ``steps``; a step's ``type``,
``function``, ``activity_name``; ``event_type`` and ``timeout`` of ``wait_event``; ``subject`` and
``cases`` [``pattern``, ``guard``, ``body``] of ``match``) and add the rest; :func:`graph_from_dict` reads them
back, so ``generate(analyze(source)[0])`` equals ``render_mermaid(analyze_workflow(source))``.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping
from typing import Any

from edda_viewer.visualizer._analyze import find_workflows, graph_of_definition, on_failure_map, parse_source
from edda_viewer.visualizer._mermaid import render_mermaid
from edda_viewer.visualizer._nodes import (
    Arm,
    Branch,
    Break,
    Case,
    Continue,
    Handler,
    Loop,
    Match,
    Node,
    Parallel,
    Raise,
    Return,
    Step,
    StepKind,
    Transaction,
    Try,
    WorkflowGraph,
)

__all__ = ["MermaidGenerator", "WorkflowAnalyzer", "graph_from_dict", "graph_to_dict"]

_STEP_FIELDS = ("detail", "timeout", "key", "activity_id", "compensation")


class WorkflowAnalyzer:
    """Finds the ``@workflow`` functions in Python source and describes each as a dictionary (0.16.2's API).

    Prefer :func:`analyze_workflow`, which returns typed :class:`WorkflowGraph` records.
    """

    def analyze(self, source: str) -> list[dict[str, Any]]:
        """Every workflow in ``source``, in source order, as ``{"name", "args", "steps", "line"}``.

        Raises:
            WorkflowSourceError: ``source`` does not parse.
            TypeError: ``source`` is not a string.
        """
        if not isinstance(source, str):
            raise TypeError(f"WorkflowAnalyzer.analyze() takes source text, got {type(source).__name__}")
        tree = parse_source(source)
        on_failure = on_failure_map(tree)
        return [graph_to_dict(graph_of_definition(d, d.name, None, on_failure)) for d in find_workflows(tree)]


class MermaidGenerator:
    """Draws a workflow dictionary (from :class:`WorkflowAnalyzer`) as a Mermaid flowchart (0.16.2's API)."""

    def generate(self, workflow: Mapping[str, Any]) -> str:
        """Mermaid source for ``workflow``; see :func:`render_mermaid`.

        Raises:
            ValueError: the dictionary is not a workflow description (names the missing or wrong key).
        """
        return render_mermaid(graph_from_dict(workflow))


def graph_to_dict(graph: WorkflowGraph) -> dict[str, Any]:
    """A :class:`WorkflowGraph` as plain data (JSON-compatible)."""
    return {
        "name": graph.name,
        "args": list(graph.params),
        "context": graph.context,
        "line": graph.line,
        "steps": _nodes_to_dicts(graph.body),
    }


def _nodes_to_dicts(nodes: tuple[Node, ...]) -> list[dict[str, Any]]:
    return [_node_to_dict(n) for n in nodes]


def _node_to_dict(node: Node) -> dict[str, Any]:
    if isinstance(node, Step):
        return _step_to_dict(node)
    if isinstance(node, Branch):
        arms = [{"condition": a.condition, "body": _nodes_to_dicts(a.body)} for a in node.arms]
        return {"type": "condition", "branches": arms, "else": _nodes_to_dicts(node.otherwise), "line": node.line}
    if isinstance(node, Loop):
        return {
            "type": "loop",
            "loop_type": node.kind,
            "header": node.header,
            "body": _nodes_to_dicts(node.body),
            "else": _nodes_to_dicts(node.otherwise),
            "infinite": node.infinite,
            "line": node.line,
        }
    if isinstance(node, Try):
        handlers = [{"exception": h.exception, "name": h.name, "body": _nodes_to_dicts(h.body)} for h in node.handlers]
        return {
            "type": "try",
            "body": _nodes_to_dicts(node.body),
            "handlers": handlers,
            "else": _nodes_to_dicts(node.otherwise),
            "finally": _nodes_to_dicts(node.final),
            "line": node.line,
        }
    if isinstance(node, Match):
        cases = [{"pattern": c.pattern, "guard": c.guard, "body": _nodes_to_dicts(c.body)} for c in node.cases]
        return {"type": "match", "subject": node.subject, "cases": cases, "line": node.line}
    if isinstance(node, Parallel):
        branches = [_nodes_to_dicts(b) for b in node.branches]
        return {"type": "parallel", "function": node.call, "branches": branches, "line": node.line}
    if isinstance(node, Transaction):
        return {"type": "transaction", "header": node.header, "body": _nodes_to_dicts(node.body), "line": node.line}
    if isinstance(node, Return):
        return {"type": "return", "value": node.value, "line": node.line}
    if isinstance(node, Raise):
        return {"type": "raise", "exception": node.exception, "line": node.line}
    return {"type": "break" if isinstance(node, Break) else "continue", "line": node.line}


def _step_to_dict(step: Step) -> dict[str, Any]:
    data: dict[str, Any] = {
        "type": step.kind.value,
        "function": step.call,
        "name": step.name,
        "site": step.site,
        "line": step.line,
    }
    data.update({name: getattr(step, name) for name in _STEP_FIELDS})
    if step.kind in (StepKind.ACTIVITY, StepKind.CALL):
        data["activity_name"] = step.name
    elif step.kind in (StepKind.WAIT_EVENT, StepKind.SEND_EVENT):
        data["event_type"] = step.detail
    elif step.kind is StepKind.COMPENSATION:
        data["compensation_name"] = step.compensation
    return data


def graph_from_dict(workflow: Mapping[str, Any]) -> WorkflowGraph:
    """Read a workflow dictionary (as :func:`graph_to_dict` or 0.16.2 wrote it) back into a graph.

    Raises:
        ValueError: a key is missing or holds the wrong kind of value; the message names it.
    """
    if not isinstance(workflow, Mapping):
        raise ValueError(f"a workflow description is a dict with 'name' and 'steps', got {type(workflow).__name__}")
    name = workflow.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError(f"the workflow dict needs a non-empty string 'name', got {name!r}")
    reader = _Reader()
    args = workflow.get("args") or []
    return WorkflowGraph(
        name,
        tuple(str(a) for a in args),
        reader.nodes(workflow.get("steps", []), "steps"),
        str(workflow.get("context") or "ctx"),
        int(workflow.get("line") or 0),
    )


class _Reader:
    def __init__(self) -> None:
        self.sites = 0

    def nodes(self, items: Any, where: str) -> tuple[Node, ...]:
        if items is None:
            return ()
        if not isinstance(items, list | tuple):
            raise ValueError(f"{where} must be a list of step dicts, got {type(items).__name__}")
        return tuple(self.node(item, f"{where}[{i}]") for i, item in enumerate(items))

    def node(self, item: Any, where: str) -> Node:
        if not isinstance(item, Mapping):
            raise ValueError(f"{where} must be a dict with a 'type', got {type(item).__name__}")
        kind = item.get("type")
        line = int(item.get("line") or 0)
        builder = self._builders().get(str(kind))
        if builder is not None:
            return builder(item, where, line)
        known = sorted([*self._builders(), *(k.value for k in StepKind)])
        if kind not in {k.value for k in StepKind}:
            raise ValueError(f"{where} has unknown type {kind!r}; known types: {', '.join(known)}")
        return self._step(item, StepKind(kind), line)

    def _builders(self) -> dict[str, Callable[[Mapping[str, Any], str, int], Node]]:
        return {
            "condition": lambda d, w, line: Branch(
                tuple(
                    Arm(str(a.get("condition", "")), self.nodes(a.get("body"), f"{w}.branches"))
                    for a in d.get("branches", [])
                ),
                self.nodes(d.get("else"), f"{w}.else"),
                line,
            ),
            "loop": lambda d, w, line: Loop(
                str(d.get("loop_type", "for")),
                str(d.get("header", "loop")),
                self.nodes(d.get("body"), f"{w}.body"),
                self.nodes(d.get("else"), f"{w}.else"),
                bool(d.get("infinite", False)),
                line,
            ),
            "try": lambda d, w, line: Try(
                self.nodes(d.get("body"), f"{w}.body"),
                tuple(
                    Handler(h.get("exception"), h.get("name"), self.nodes(h.get("body"), f"{w}.handlers"))
                    for h in d.get("handlers", [])
                ),
                self.nodes(d.get("else"), f"{w}.else"),
                self.nodes(d.get("finally"), f"{w}.finally"),
                line,
            ),
            "match": lambda d, w, line: Match(
                str(d.get("subject", "")),
                tuple(
                    Case(str(c.get("pattern", "_")), c.get("guard"), self.nodes(c.get("body"), f"{w}.cases"))
                    for c in d.get("cases", [])
                ),
                line,
            ),
            "parallel": lambda d, w, line: Parallel(
                tuple(self.nodes(b, f"{w}.branches") for b in d.get("branches", [])),
                str(d.get("function", "asyncio.gather")),
                line,
            ),
            "transaction": lambda d, w, line: Transaction(
                self.nodes(d.get("body"), f"{w}.body"), str(d.get("header", "ctx.transaction()")), line
            ),
            "return": lambda d, w, line: Return(d.get("value"), line),
            "raise": lambda d, w, line: Raise(d.get("exception"), line),
            "break": lambda d, w, line: Break(line),
            "continue": lambda d, w, line: Continue(line),
        }

    def _step(self, item: Mapping[str, Any], kind: StepKind, line: int) -> Step:
        site = item.get("site")
        if not isinstance(site, int) or isinstance(site, bool):
            site = self.sites
        self.sites = max(self.sites, site) + 1
        function = str(item.get("function") or item.get("name") or item.get("activity_name") or kind.value)
        name = str(item.get("name") or item.get("activity_name") or _callee(function))
        detail = item.get("detail", item.get("event_type"))
        timeout = item.get("timeout")
        return Step(
            kind,
            name,
            function,
            site,
            line,
            detail=None if detail is None else str(detail),
            timeout=None if timeout is None else _seconds(timeout),
            key=item.get("key"),
            activity_id=item.get("activity_id"),
            compensation=item.get("compensation", item.get("compensation_name")),
        )


def _callee(function: str) -> str:
    try:
        expr = ast.parse(function, mode="eval").body
    except SyntaxError:
        return function
    return expr.attr if isinstance(expr, ast.Attribute) else function


def _seconds(timeout: Any) -> str:
    if isinstance(timeout, int | float) and not isinstance(timeout, bool):
        return f"{timeout:g} s"
    return str(timeout)
