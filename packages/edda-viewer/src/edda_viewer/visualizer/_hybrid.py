"""``hybrid_diagram``: the code's graph with one instance's history laid over it.

Each step of the code gets a class: ``completed`` (with a count when it ran more than once, and its retries),
``current`` (where a running, waiting or compensating instance is), ``failed``, ``compensated`` (an activity
whose compensation ran, and the compensation itself) or ``notReached``. Steps history cannot see (an awaited
plain function, ``ctx.recur``) keep the default style. Compensations that ran are chained, in the order they ran,
from the step that failed.

Without the code (the workflow is not imported in this process, or its source is unavailable) the diagram is drawn
from history alone: one node per distinct recorded step, in the order first reached, with counts, and a dashed
``again`` edge wherever history went back to an earlier step (a loop).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import edda
from edda.storage.records import InstanceStatus
from edda_viewer.visualizer._analyze import WorkflowSourceError, analyze_workflow
from edda_viewer.visualizer._history import Alignment, Key, SiteRecord, align, event_key, search, site_key
from edda_viewer.visualizer._mermaid import (
    DEFAULT_CLASS_DEFS,
    Extra,
    Flow,
    Mark,
    Overlay,
    Ref,
    control_flow,
    render_graph,
)
from edda_viewer.visualizer._nodes import Step, StepKind, WorkflowGraph

__all__ = ["hybrid_diagram"]

_WAIT_KINDS: dict[str, str] = {
    InstanceStatus.WAITING_FOR_EVENT: "event",
    InstanceStatus.WAITING_FOR_TIMER: "timer",
    InstanceStatus.WAITING_FOR_MESSAGE: "message",
}
_END: dict[str, tuple[str, str]] = {
    InstanceStatus.COMPLETED: ("completed", "completed"),
    InstanceStatus.FAILED: ("failed", "failed"),
    InstanceStatus.CANCELLED: ("cancelled", "cancelled"),
}
_KEY_STEPS: dict[str, tuple[StepKind, str]] = {
    "activity": (StepKind.ACTIVITY, ""),
    "compensation": (StepKind.COMPENSATION, "register_compensation"),
    "timer": (StepKind.SLEEP, "sleep"),
    "event": (StepKind.WAIT_EVENT, "wait_event"),
    "wait": (StepKind.WAIT_EVENT, "wait_event"),
    "message": (StepKind.RECEIVE, "receive"),
    "publish": (StepKind.PUBLISH, "publish"),
    "subscribe": (StepKind.SUBSCRIBE, "subscribe"),
    "unsubscribe": (StepKind.UNSUBSCRIBE, "unsubscribe"),
    "send_event": (StepKind.SEND_EVENT, "send_event"),
}
_UNSEEN = frozenset({StepKind.CALL, StepKind.RECUR})  # history records nothing for these


def hybrid_diagram(
    workflow: edda.Workflow | WorkflowGraph | Callable[..., Any] | None,
    history: Sequence[Any],
    *,
    status: str,
    wait: Mapping[str, Any] | None = None,
    name: str | None = None,
    class_defs: Mapping[str, str] | None = None,
) -> str:
    """Mermaid source of a workflow's code merged with what one instance did.

    Args:
        workflow: the instance's workflow (``edda.Workflow``, its function, or a graph from
            :func:`analyze_workflow`), or ``None`` when it is not imported here: the diagram is then drawn from the
            history alone, as it is when the workflow's source cannot be read.
        history: the instance's history entries in order (``await app.storage.get_history(instance_id)``).
        status: the instance's status (``instance.status``): decides the current step and how ``End`` looks.
        wait: the instance's ``wait`` (``instance.wait``): names the event or channel a waiting instance waits
            for, so the right one of several waits is marked current.
        name: the title of the ``Start`` node when ``workflow`` is ``None`` (the instance's workflow name).
        class_defs: Mermaid styles by class name, replacing the defaults (e.g. for a dark theme): ``completed``,
            ``current``, ``failed``, ``compensated``, ``notReached``, ``cancelled``, ``compensation``.

    Returns:
        Mermaid flowchart source (``flowchart TD``).

    Raises:
        ValueError: ``status`` is not an instance status.
        TypeError: ``history`` is not a sequence of history entries.
    """
    statuses = [s.value for s in InstanceStatus]
    if not isinstance(status, str) or status not in statuses:
        raise ValueError(f"status must be an instance status ({', '.join(statuses)}), got {status!r}")
    if isinstance(history, str | bytes) or not isinstance(history, Sequence):
        raise TypeError(
            f"history must be a sequence of history entries (await storage.get_history(id)), "
            f"got {type(history).__name__}"
        )
    if wait is not None and not isinstance(wait, Mapping):
        raise TypeError(f"wait must be the instance's wait mapping or None, got {type(wait).__name__}")
    graph = _graph_of(workflow)
    from_history = graph is None
    if graph is None:
        title = getattr(workflow, "name", None) or getattr(workflow, "__name__", None) or name or "workflow"
        graph = _history_graph(str(title), history)
    flow = control_flow(graph)
    alignment = align(graph, history, flow)
    back_edges: tuple[tuple[int, int], ...] = ()
    if from_history:  # show where history went back to an earlier step (a loop)
        steps = zip(alignment.visits, alignment.visits[1:], strict=False)
        back_edges = tuple(dict.fromkeys((a, b) for a, b in steps if b <= a))
    overlay = _Overlay(graph, flow, alignment, str(status), wait).build(back_edges, class_defs or DEFAULT_CLASS_DEFS)
    return render_graph(graph, overlay)


def _graph_of(workflow: Any) -> WorkflowGraph | None:
    if workflow is None:
        return None
    if isinstance(workflow, WorkflowGraph):
        return workflow
    try:
        return analyze_workflow(workflow)
    except (WorkflowSourceError, RecursionError):
        return None


def _history_graph(title: str, history: Sequence[Any]) -> WorkflowGraph:
    """One step per distinct recorded step, in the order history first reached them."""
    seen: dict[Key, Step] = {}
    for event in history:
        key = event_key(event)
        if key is not None and key not in seen:
            seen[key] = _synthetic_step(key, len(seen))
    return WorkflowGraph(title, (), tuple(seen.values()))


def _synthetic_step(key: Key, site: int) -> Step:
    kind, function = _KEY_STEPS.get(key[0], (StepKind.ACTIVITY, ""))
    name = key[1] or "?"
    if kind is StepKind.ACTIVITY:
        return Step(kind, name, name, site)
    return Step(kind, function, function, site, detail=key[1], key=key[1])


class _Overlay:
    """Builds the :class:`Overlay` for one instance."""

    def __init__(
        self, graph: WorkflowGraph, flow: Flow, alignment: Alignment, status: str, wait: Mapping[str, Any] | None
    ) -> None:
        self.graph = graph
        self.flow = flow
        self.alignment = alignment
        self.status = status
        self.wait = wait
        self.steps = graph.steps()
        self.marks: dict[int, Mark] = {}
        self.waiting: Extra | None = None  # the wait of a waiting instance, when the graph has no place for it
        self.current_compensation: Ref | None = None

    def build(self, back_edges: tuple[tuple[int, int], ...], class_defs: Mapping[str, str]) -> Overlay:
        for step in self.steps:
            mark = _step_mark(step, self.alignment.records.get(step.site))
            if mark is not None:
                self.marks[step.site] = mark
        self._current()
        compensations = self._compensations()
        extras: list[Extra] = []  # indexed like alignment.unplaced: the chain's ("extra_comp", i) refs rely on it
        for index, unplaced in enumerate(self.alignment.unplaced):
            step = _synthetic_step(unplaced.key, -1 - index)
            mark = _step_mark(step, unplaced.record) or Mark()
            comp = self._compensation_mark(("extra_comp", index), unplaced.record)
            extras.append(
                Extra(unplaced.anchor, step, mark, None if comp is None else (str(unplaced.record.compensation), comp))
            )
        if self.waiting is not None:
            extras.append(self.waiting)
        end_css, end_label = _END.get(self.status, ("notReached", "end"))
        last = self.alignment.last_site
        return Overlay(
            steps=self.marks,
            compensations=compensations,
            extras=tuple(extras),
            chain=tuple(self.alignment.compensations_run),
            chain_from=self.alignment.failed or (None if last is None else ("step", last)),
            back_edges=back_edges,
            start=Mark("completed"),
            end=Mark(end_css),
            end_label=end_label,
            class_defs=class_defs,
        )

    # -- where the instance is ---------------------------------------------------------------------------------

    def _current(self) -> None:
        if self.status in _WAIT_KINDS:
            self._current_wait(_WAIT_KINDS[self.status])
        elif self.status == InstanceStatus.RUNNING:
            self._current_running()
        elif self.status == InstanceStatus.COMPENSATING:
            pending = self.alignment.pending_compensations
            self.current_compensation = pending[0] if pending else None

    def _current_wait(self, kind: str) -> None:
        channel = self.wait.get("channel") if self.wait is not None and kind != "timer" else None
        key: Key = (kind, channel if isinstance(channel, str) else None)
        site = self._find(key)
        note = "⏳ waiting" + (f" for {channel}" if isinstance(channel, str) and channel else "")
        if site is None:
            step = _synthetic_step(key, -1 - len(self.alignment.unplaced))
            self.waiting = Extra(self.alignment.last_site, step, Mark("current", note))
            return
        self.marks[site] = Mark("current", _join(note, _counts(self.alignment.records.get(site), before=True)))

    def _current_running(self) -> None:
        for name, attempts in self.alignment.retrying.values():
            site = self._find(("activity", name))
            if site is not None:
                self.marks[site] = Mark("current", f"↻ retrying: {attempts} failed attempt{'s' * (attempts != 1)}")
                return
        site = self._find(None)
        if site is not None:
            self.marks[site] = Mark("current", "▶ running next")

    def _find(self, key: Key | None) -> int | None:
        """The step where the instance is now: one that can record ``key``, or (``None``) the nearest step with a
        history entry of its own."""
        keys = {s.site: k for s in self.steps if (k := site_key(s)) is not None}
        if key is not None:
            return search(self.flow, keys, self.alignment.trail, key, {})
        nearest = [site for _, site in self.flow.reachable(self.alignment.trail[-1]) if site in keys]
        return nearest[0] if nearest else None

    # -- compensations -----------------------------------------------------------------------------------------

    def _compensations(self) -> dict[int, tuple[str, Mark]]:
        found: dict[int, tuple[str, Mark]] = {}
        for step in self.steps:
            record = self.alignment.records.get(step.site)
            name = (record.compensation if record else None) or step.compensation
            if name is not None:
                found[step.site] = (name, self._compensation_mark(("comp", step.site), record) or Mark("notReached"))
        return found

    def _compensation_mark(self, ref: Ref, record: SiteRecord | None) -> Mark | None:
        if record is None or record.compensation is None:
            return None
        if ref == self.current_compensation:
            return Mark("current", "▶ compensating")
        if record.compensation_failed:
            return Mark("failed", "✗ compensation failed")
        if record.compensated:
            return Mark("compensated", "↩ ran" + (f" ×{record.compensated}" if record.compensated > 1 else ""))
        return Mark("notReached", "registered, not run")


def _step_mark(step: Step, record: SiteRecord | None) -> Mark | None:
    if record is None or record.last is None:
        return None if step.kind in _UNSEEN else Mark("notReached")
    counts = _counts(record)
    if record.last == "failed":
        return Mark("failed", _join(f"✗ failed{': ' + record.error if record.error else ''}", counts))
    if record.last == "timed_out":
        return Mark("failed", _join("✗ timed out", counts))
    if record.compensated and step.kind is not StepKind.COMPENSATION:
        return Mark("compensated", _join("↩ compensated", counts))
    return Mark("completed", _join("✓ done", counts))


def _counts(record: SiteRecord | None, *, before: bool = False) -> str:
    if record is None:
        return ""
    parts: list[str] = []
    runs = record.completed + record.failed + record.timed_out
    if before and record.completed:
        parts.append(f"{record.completed}× before")
    elif runs > 1:
        parts.append(f"×{runs}")
    if record.retries:
        parts.append(f"{record.retries} retr{'ies' if record.retries != 1 else 'y'}")
    return ", ".join(parts)


def _join(first: str, second: str) -> str:
    return f"{first} · {second}" if second else first
