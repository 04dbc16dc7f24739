"""``render_mermaid``: a :class:`WorkflowGraph` to a Mermaid flowchart (``flowchart TD``).

Every label is quoted and escaped (:func:`escape_mermaid_label`); node ids are generated (``Start``, ``End``,
``n1``, ``c1`` ...), never taken from user text. Nodes are declared first (inside ``subgraph`` blocks for
``ctx.transaction()``), edges after all of them, so that an edge never moves a node into a subgraph.

Shapes: activities are rectangles, other awaited calls rounded; waits (``wait_event``, ``sleep``, ``receive``) are
hexagons; sent events and messages are flags; conditions and ``match`` are diamonds; loop heads are trapezoids with
a back edge from the end of the body; compensations hang off their step on a dashed ``-.compensation.->`` edge.
An :class:`Overlay` (built by the hybrid diagram from an instance's history) adds classes, notes and extra nodes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from edda_viewer.visualizer._escape import escape_mermaid_label
from edda_viewer.visualizer._nodes import (
    Branch,
    Break,
    Continue,
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

__all__ = [
    "DEFAULT_CLASS_DEFS",
    "Extra",
    "Flow",
    "Mark",
    "Overlay",
    "Ref",
    "control_flow",
    "render_graph",
    "render_mermaid",
    "step_label",
]

DEFAULT_CLASS_DEFS: Mapping[str, str] = {
    "completed": "fill:#dcfce7,stroke:#16a34a,stroke-width:2px,color:#14532d",
    "current": "fill:#dbeafe,stroke:#2563eb,stroke-width:3px,color:#1e3a8a",
    "failed": "fill:#fee2e2,stroke:#dc2626,stroke-width:2px,color:#7f1d1d",
    "compensated": "fill:#fef3c7,stroke:#d97706,stroke-width:2px,color:#78350f",
    "notReached": "fill:#f9fafb,stroke:#9ca3af,stroke-dasharray:4 3,color:#6b7280",
    "cancelled": "fill:#e5e7eb,stroke:#374151,stroke-width:2px,color:#111827",
    "compensation": "fill:#fff7ed,stroke:#fb923c,stroke-dasharray:3 3,color:#7c2d12",
}
"""The ``classDef`` styles by class name; ``compensation`` is a compensation not yet touched by any history."""

_SHAPES: dict[str, tuple[str, str]] = {
    "rect": ('["', '"]'),
    "round": ('("', '")'),
    "stadium": ('(["', '"])'),
    "hexagon": ('{{"', '"}}'),
    "diamond": ('{"', '"}'),
    "subroutine": ('[["', '"]]'),
    "lean": ('[/"', '"/]'),
    "trapezoid": ('[/"', '"\\]'),
    "flag": ('>"', '"]'),
}
_STEP_SHAPES: dict[StepKind, str] = {
    StepKind.ACTIVITY: "rect",
    StepKind.CALL: "round",
    StepKind.WAIT_EVENT: "hexagon",
    StepKind.SLEEP: "hexagon",
    StepKind.RECEIVE: "hexagon",
    StepKind.SEND_EVENT: "flag",
    StepKind.PUBLISH: "flag",
    StepKind.SUBSCRIBE: "lean",
    StepKind.UNSUBSCRIBE: "lean",
    StepKind.COMPENSATION: "subroutine",
    StepKind.RECUR: "subroutine",
}


@dataclass(frozen=True)
class Mark:
    """How the hybrid diagram shows a node: a class (``completed`` ...) and a note added as a second line."""

    css: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class Extra:
    """A recorded step the code's graph has no place for, drawn after the node of site ``anchor``."""

    anchor: int | None
    step: Step
    mark: Mark
    compensation: tuple[str, Mark] | None = None


Ref = tuple[str, int]
"""A node of the rendered diagram: ``("step", site)``, ``("comp", site)`` (the compensation hanging off a step),
``("extra", index)`` or ``("extra_comp", index)`` (an :class:`Extra` and its compensation)."""


@dataclass(frozen=True)
class Overlay:
    """What an instance's history adds to the code's graph (see ``_hybrid``).

    ``chain`` lists the compensations that ran, in the order they ran; they are drawn as a dashed path starting at
    ``chain_from`` (the step that failed, or where the instance was cancelled).
    """

    steps: Mapping[int, Mark] = field(default_factory=dict)
    compensations: Mapping[int, tuple[str, Mark]] = field(default_factory=dict)
    extras: tuple[Extra, ...] = ()
    chain: tuple[Ref, ...] = ()
    chain_from: Ref | None = None
    back_edges: tuple[tuple[int, int], ...] = ()
    start: Mark = Mark()
    end: Mark = Mark()
    end_label: str = "end"
    class_defs: Mapping[str, str] = field(default_factory=lambda: DEFAULT_CLASS_DEFS)


def render_mermaid(graph: WorkflowGraph) -> str:
    """The Mermaid flowchart of a workflow's code (no instance data).

    Args:
        graph: from :func:`analyze_workflow`.

    Returns:
        Mermaid source starting with ``flowchart TD``: ``Start`` … ``End``, one node per step, diamonds for
        conditions, hexagons for waits, back edges for loops and dashed ``-.compensation.->`` edges.
    """
    if not isinstance(graph, WorkflowGraph):
        raise TypeError(f"render_mermaid() takes a WorkflowGraph (from analyze_workflow), got {type(graph).__name__}")
    return render_graph(graph, None)


def render_graph(graph: WorkflowGraph, overlay: Overlay | None) -> str:
    return _Renderer(graph, overlay or Overlay()).render()


@dataclass(frozen=True)
class Flow:
    """The diagram's control flow: which node can follow which (compensation and ``recur`` edges left out: a
    recurrence starts a fresh history). ``sites`` maps each step's site to its node id."""

    sites: Mapping[int, str]
    successors: Mapping[str, tuple[str, ...]]

    def reachable(self, origin: str) -> list[tuple[int, int]]:
        """``(distance, site)`` of every step reachable from node ``origin`` (itself only along a cycle),
        nearest first."""
        by_node = {node: site for site, node in self.sites.items()}
        found: list[tuple[int, int]] = []
        seen: set[str] = set()
        frontier, distance = [origin], 0
        while frontier:
            distance += 1
            following: list[str] = []
            for node in frontier:
                for successor in self.successors.get(node, ()):
                    if successor not in seen:
                        seen.add(successor)
                        following.append(successor)
                        if successor in by_node:
                            found.append((distance, by_node[successor]))
            frontier = following
        return found


def control_flow(graph: WorkflowGraph) -> Flow:
    """The :class:`Flow` of ``graph``'s diagram."""
    renderer = _Renderer(graph, Overlay())
    renderer.render()
    successors: dict[str, list[str]] = {}
    for source, target in renderer.flow:
        successors.setdefault(source, []).append(target)
    return Flow(dict(renderer.site_ids), {k: tuple(v) for k, v in successors.items()})


def step_label(step: Step) -> list[str]:
    """The text lines of a step's node (unescaped)."""
    if step.kind is StepKind.ACTIVITY:
        lines = [step.call if step.call != step.name and "." in step.call else step.name]
    elif step.kind is StepKind.CALL:
        lines = [f"{step.call}()"]
    elif step.kind is StepKind.RECUR:
        lines = [f"{step.call}()", "restarts with fresh history"]
    else:
        lines = [step.name if step.detail is None else f"{step.name}: {step.detail}"]
    if step.timeout is not None:
        lines.append(f"timeout: {step.timeout}")
    if step.activity_id is not None:
        lines.append(f"id: {step.activity_id}")
    return lines


_End = tuple[str, str | None, bool]  # (source node id, edge label, dotted)


@dataclass
class _LoopFrame:
    head: str
    breaks: list[_End]


class _Renderer:
    def __init__(self, graph: WorkflowGraph, overlay: Overlay) -> None:
        self.graph = graph
        self.overlay = overlay
        self.nodes: list[str] = []
        self.edges: list[str] = []
        self.classes: dict[str, list[str]] = {}
        self.counter = 0
        self.indent = "    "
        self.site_ids: dict[int, str] = {}
        self.comp_ids: dict[int, str] = {}
        self.extra_ids: dict[int, str] = {}
        self.extra_comp_ids: dict[int, str] = {}
        self.flow: list[tuple[str, str]] = []
        self.loops: list[_LoopFrame] = []
        self.to_end: list[_End] = []

    def render(self) -> str:
        ov = self.overlay
        self._declare("Start", "stadium", [self.graph.name], ov.start.css)
        ends = self._sequence(self.graph.body, [("Start", None, False)])
        self._declare("End", "stadium", [ov.end_label], ov.end.css)
        self._link([*ends, *self.to_end], "End")
        self._extras()
        self._chain()
        for source, target in ov.back_edges:
            if source in self.site_ids and target in self.site_ids:
                self.edges.append(f"{self.site_ids[source]} -.->|again| {self.site_ids[target]}")
        lines = ["flowchart TD", *self.nodes, *(self.indent + e for e in self.edges)]
        for name, style in ov.class_defs.items():
            if name in self.classes:
                lines.append(f"{self.indent}classDef {name} {style}")
        for name, ids in self.classes.items():
            if name in ov.class_defs:
                lines.append(f"{self.indent}class {','.join(ids)} {name}")
        return "\n".join(lines) + "\n"

    # -- nodes and edges ---------------------------------------------------------------------------------------

    def _new_id(self, prefix: str = "n") -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def _declare(self, node_id: str, shape: str, lines: list[str], css: str | None = None) -> str:
        opening, closing = _SHAPES[shape]
        text = "<br/>".join(escape_mermaid_label(line) for line in lines if line)
        self.nodes.append(f"{self.indent}{node_id}{opening}{text}{closing}")
        if css is not None:
            self.classes.setdefault(css, []).append(node_id)
        return node_id

    def _node(self, shape: str, lines: list[str], ends: list[_End], css: str | None = None) -> str:
        node_id = self._declare(self._new_id(), shape, lines, css)
        self._link(ends, node_id)
        return node_id

    def _link(self, ends: list[_End], target: str) -> None:
        for source, label, dotted in ends:
            self.flow.append((source, target))
            arrow = "-.->" if dotted else "-->"
            text = "" if label is None else f'|"{escape_mermaid_label(label, 40)}"|'
            self.edges.append(f"{source} {arrow}{text} {target}")

    # -- the code's structure ----------------------------------------------------------------------------------

    def _sequence(self, nodes: tuple[Node, ...], ends: list[_End]) -> list[_End]:
        for node in nodes:
            ends = self._visit(node, ends)
        return ends

    def _visit(self, node: Node, ends: list[_End]) -> list[_End]:
        if isinstance(node, Step):
            return self._step(node, ends)
        if isinstance(node, Branch):
            return self._branch(node, ends)
        if isinstance(node, Loop):
            return self._loop(node, ends)
        if isinstance(node, Try):
            return self._try(node, ends)
        if isinstance(node, Match):
            return self._match(node, ends)
        if isinstance(node, Parallel):
            fork = self._node("subroutine", [node.call], ends)
            joined: list[_End] = []
            for branch in node.branches:
                joined.extend(self._sequence(branch, [(fork, None, False)]))
            return joined or [(fork, None, False)]
        if isinstance(node, Transaction):
            return self._transaction(node, ends)
        if isinstance(node, Return):
            self.to_end.extend(ends)
            return []
        if isinstance(node, Raise):
            self._node("stadium", [f"raise {node.exception}" if node.exception else "raise"], ends)
            return []
        if isinstance(node, Break):
            if self.loops:
                self.loops[-1].breaks.extend(ends)
            return []
        if isinstance(node, Continue):
            if self.loops:
                self._link(ends, self.loops[-1].head)
            return []
        raise TypeError(f"not a graph node: {node!r}")

    def _step(self, step: Step, ends: list[_End]) -> list[_End]:
        mark = self.overlay.steps.get(step.site, Mark())
        node_id = self._node(_STEP_SHAPES[step.kind], [*step_label(step), mark.note or ""], ends, mark.css)
        self.site_ids[step.site] = node_id
        compensation = self.overlay.compensations.get(step.site)
        if compensation is None and step.compensation is not None:
            compensation = (step.compensation, Mark("compensation"))
        if compensation is not None:
            name, comp_mark = compensation
            comp_id = self._declare(self._new_id("c"), "round", [f"↩ {name}", comp_mark.note or ""], comp_mark.css)
            self.edges.append(f"{node_id} -.compensation.-> {comp_id}")
            self.comp_ids[step.site] = comp_id
        if step.kind is StepKind.RECUR:
            self.edges.append(f"{node_id} -.->|recur| Start")
            return []
        return [(node_id, None, False)]

    def _branch(self, node: Branch, ends: list[_End]) -> list[_End]:
        out: list[_End] = []
        for arm in node.arms:
            decision = self._node("diamond", [arm.condition], ends)
            out.extend(self._sequence(arm.body, [(decision, "yes", False)]))
            ends = [(decision, "no", False)]
        out.extend(self._sequence(node.otherwise, ends))
        return out

    def _loop(self, node: Loop, ends: list[_End]) -> list[_End]:
        head = self._node("trapezoid", [node.header], ends)
        frame = _LoopFrame(head, [])
        self.loops.append(frame)
        body_ends = self._sequence(node.body, [(head, "each" if node.kind == "for" else "true", False)])
        self.loops.pop()
        self._link(body_ends, head)
        exits: list[_End] = [] if node.infinite else [(head, "done" if node.kind == "for" else "false", False)]
        return [*self._sequence(node.otherwise, exits), *frame.breaks]

    def _try(self, node: Try, ends: list[_End]) -> list[_End]:
        start = self._node("lean", ["try"], ends)
        out = self._sequence(node.otherwise, self._sequence(node.body, [(start, None, False)]))
        for handler in node.handlers:
            what = handler.exception or "any error"
            label = f"except {what}" + (f" as {handler.name}" if handler.name else "")
            head = self._node("lean", [label], [(start, what, True)])
            out.extend(self._sequence(handler.body, [(head, None, False)]))
        if node.final:
            final = self._node("lean", ["finally"], out)
            out = self._sequence(node.final, [(final, None, False)])
        return out

    def _match(self, node: Match, ends: list[_End]) -> list[_End]:
        decision = self._node("diamond", [f"match {node.subject}"], ends)
        out: list[_End] = []
        exhaustive = False
        for case in node.cases:
            label = f"case {case.pattern}" + (f" if {case.guard}" if case.guard else "")
            out.extend(self._sequence(case.body, [(decision, label, False)]))
            exhaustive = exhaustive or (case.guard is None and (case.pattern == "_" or case.pattern.isidentifier()))
        if not exhaustive:
            out.append((decision, "no match", False))
        return out

    def _transaction(self, node: Transaction, ends: list[_End]) -> list[_End]:
        if not any(isinstance(n, Step | Branch | Loop | Try | Match | Parallel | Transaction) for n in node.body):
            block = self._node("subroutine", [node.header], ends)
            return self._sequence(node.body, [(block, None, False)])
        group = self._new_id("tx")
        self.nodes.append(f'{self.indent}subgraph {group}["{escape_mermaid_label(node.header)}"]')
        outer = self.indent
        self.indent += "    "
        self.nodes.append(f"{self.indent}direction TB")
        out = self._sequence(node.body, ends)
        self.indent = outer
        self.nodes.append(f"{self.indent}end")
        return out

    # -- what the history adds ---------------------------------------------------------------------------------

    def _extras(self) -> None:
        last: dict[int | None, str] = {}  # the newest extra node after each anchor: extras chain on
        for index, extra in enumerate(self.overlay.extras):
            anchor = last.get(extra.anchor) or self.site_ids.get(-1 if extra.anchor is None else extra.anchor, "Start")
            lines = [*step_label(extra.step), extra.mark.note or ""]
            node_id = self._declare(self._new_id("x"), _STEP_SHAPES[extra.step.kind], lines, extra.mark.css)
            self.edges.append(f"{anchor} -.-> {node_id}")
            last[extra.anchor] = node_id
            self.extra_ids[index] = node_id
            if extra.compensation is not None:
                name, mark = extra.compensation
                comp_id = self._declare(self._new_id("c"), "round", [f"↩ {name}", mark.note or ""], mark.css)
                self.edges.append(f"{node_id} -.compensation.-> {comp_id}")
                self.extra_comp_ids[index] = comp_id

    def _chain(self) -> None:
        ids = [node_id for node_id in map(self._ref, self.overlay.chain) if node_id is not None]
        if not ids:
            return
        previous, label = self._ref(self.overlay.chain_from) or "Start", "compensate"
        for node_id in ids:
            if node_id == previous:  # one compensation node ran for several registrations (a loop)
                continue
            self.edges.append(f"{previous} -.->|{label}| {node_id}")
            previous, label = node_id, "then"

    def _ref(self, ref: Ref | None) -> str | None:
        """The node id of an overlay reference (see :class:`Overlay`)."""
        if ref is None:
            return None
        kind, number = ref
        table = {
            "step": self.site_ids,
            "extra": self.extra_ids,
            "comp": self.comp_ids,
            "extra_comp": self.extra_comp_ids,
        }[kind]
        return table.get(number)
