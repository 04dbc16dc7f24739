"""The graph of a workflow's code: frozen dataclasses, one per construct the analyzer recognises.

A workflow is a :class:`WorkflowGraph` whose ``body`` is a sequence of nodes. :class:`Step` is a call the engine
records (an activity, a wait, a sent event ...) or an awaited call it does not record; the other nodes are control
flow that contains further sequences. Every ``Step`` has a ``site``: its number in source order within the
workflow, which is how a history is laid over the graph (see ``_history``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeAlias

__all__ = [
    "Arm",
    "Branch",
    "Break",
    "Case",
    "Continue",
    "Handler",
    "Loop",
    "Match",
    "Node",
    "Parallel",
    "Raise",
    "Return",
    "Step",
    "StepKind",
    "Transaction",
    "Try",
    "WorkflowGraph",
    "iter_steps",
]


class StepKind(StrEnum):
    """What a :class:`Step` does (the values appear in the dictionaries of :class:`WorkflowAnalyzer`)."""

    ACTIVITY = "activity"
    """An activity (recorded as ``ActivityCompleted``/``ActivityFailed``), or an awaited call that may be one."""
    CALL = "call"
    """An awaited call known not to be an activity (a plain coroutine function, a sub-workflow called directly)."""
    WAIT_EVENT = "wait_event"
    SLEEP = "sleep"
    """``sleep``, ``sleep_until`` and the older ``wait_timer``, ``wait_until``."""
    RECEIVE = "receive"
    """``receive`` and the older ``wait_message``."""
    SEND_EVENT = "send_event"
    PUBLISH = "publish"
    """``publish`` and ``send_to``."""
    SUBSCRIBE = "subscribe"
    """``subscribe`` and ``join_group``."""
    UNSUBSCRIBE = "unsubscribe"
    """``unsubscribe`` and ``leave_group``."""
    COMPENSATION = "compensation"
    """``register_compensation(ctx, fn, ...)``."""
    RECUR = "recur"
    """``ctx.recur(...)``: the workflow restarts with fresh history."""


@dataclass(frozen=True)
class Step:
    """One call in the workflow's code.

    Attributes:
        kind: what the call does.
        name: the activity's name (as recorded in history) or the function called.
        call: the callee as written (``reserve_inventory``, ``mod.f``, ``ctx.recur``).
        site: the step's number in source order within its workflow (0, 1, ...).
        line: the line of the call (1-based): in the source file when a function or workflow was analysed, in
            the text when source text was.
        detail: what the step waits for or sends: an event type, a channel, a duration ... (as written, or the
            constant's value).
        timeout: a wait's timeout as written, if any.
        activity_id: the explicit ``activity_id=``/``event_id=``/... as written, if any.
        key: the value history records for this step when the code fixes it as a constant: the event type of a
            ``wait_event``/``send_event``, the channel of a ``receive``/``publish``/``subscribe``, the name of a
            registered compensation. ``None`` when it is computed (an f-string, a variable).
        compensation: the compensation attached to an activity (``@on_failure``) or registered by this step.
    """

    kind: StepKind
    name: str
    call: str
    site: int
    line: int = 0
    detail: str | None = None
    timeout: str | None = None
    key: str | None = None
    activity_id: str | None = None
    compensation: str | None = None


@dataclass(frozen=True)
class Arm:
    """One ``if``/``elif`` condition and the code it guards."""

    condition: str
    body: tuple[Node, ...]


@dataclass(frozen=True)
class Branch:
    """An ``if``/``elif``/``else`` chain (``otherwise`` is the ``else`` block, empty when there is none)."""

    arms: tuple[Arm, ...]
    otherwise: tuple[Node, ...] = ()
    line: int = 0


@dataclass(frozen=True)
class Loop:
    """A ``for``/``async for``/``while`` loop, or a comprehension with awaited calls (``kind`` ``"for"``).

    ``header`` is the loop's first line as written (``for item in items``, ``while True``); ``infinite`` is set for
    ``while True`` (and other truthy constants): such a loop is left only by ``break``, ``return`` or ``recur``.
    """

    kind: str
    header: str
    body: tuple[Node, ...]
    otherwise: tuple[Node, ...] = ()
    infinite: bool = False
    line: int = 0


@dataclass(frozen=True)
class Handler:
    """One ``except`` clause (``exception`` ``None`` for a bare ``except:``)."""

    exception: str | None
    name: str | None
    body: tuple[Node, ...]


@dataclass(frozen=True)
class Try:
    """A ``try`` statement (``try*`` too)."""

    body: tuple[Node, ...]
    handlers: tuple[Handler, ...] = ()
    otherwise: tuple[Node, ...] = ()
    final: tuple[Node, ...] = ()
    line: int = 0


@dataclass(frozen=True)
class Case:
    """One ``case`` of a ``match`` (``guard`` is the ``if`` clause, if any)."""

    pattern: str
    guard: str | None
    body: tuple[Node, ...]


@dataclass(frozen=True)
class Match:
    """A ``match`` statement."""

    subject: str
    cases: tuple[Case, ...]
    line: int = 0


@dataclass(frozen=True)
class Parallel:
    """Calls awaited together (``asyncio.gather(...)``); each branch is a sequence."""

    branches: tuple[tuple[Node, ...], ...]
    call: str = "asyncio.gather"
    line: int = 0


@dataclass(frozen=True)
class Transaction:
    """An ``async with ctx.transaction():`` block."""

    body: tuple[Node, ...]
    header: str = "ctx.transaction()"
    line: int = 0


@dataclass(frozen=True)
class Return:
    """A ``return`` (the workflow ends here)."""

    value: str | None = None
    line: int = 0


@dataclass(frozen=True)
class Raise:
    """A ``raise`` (the workflow fails here unless a surrounding ``try`` catches it)."""

    exception: str | None = None
    line: int = 0


@dataclass(frozen=True)
class Break:
    """``break``: leave the innermost loop."""

    line: int = 0


@dataclass(frozen=True)
class Continue:
    """``continue``: next round of the innermost loop."""

    line: int = 0


Node: TypeAlias = Step | Branch | Loop | Try | Match | Parallel | Transaction | Return | Raise | Break | Continue


@dataclass(frozen=True)
class WorkflowGraph:
    """The analysed structure of one workflow function.

    Attributes:
        name: the workflow's name (the function's, or the name it was registered under).
        params: the function's parameters after the context.
        body: the function body's nodes.
        context: the name of the context parameter (``ctx``).
        line: the ``def`` line in the analysed source.
    """

    name: str
    params: tuple[str, ...]
    body: tuple[Node, ...]
    context: str = "ctx"
    line: int = 0

    def steps(self) -> list[Step]:
        """Every :class:`Step` of the workflow, in source order (by ``site``)."""
        return sorted(iter_steps(self.body), key=lambda s: s.site)


def iter_steps(nodes: tuple[Node, ...]) -> Iterator[Step]:
    """Every :class:`Step` in ``nodes`` and the blocks they contain, depth first."""
    for node in nodes:
        if isinstance(node, Step):
            yield node
        else:
            for block in _blocks(node):
                yield from iter_steps(block)


def _blocks(node: Node) -> tuple[tuple[Node, ...], ...]:
    """The nested sequences of a control-flow node."""
    if isinstance(node, Branch):
        return (*(arm.body for arm in node.arms), node.otherwise)
    if isinstance(node, Loop):
        return (node.body, node.otherwise)
    if isinstance(node, Try):
        return (node.body, *(h.body for h in node.handlers), node.otherwise, node.final)
    if isinstance(node, Match):
        return tuple(case.body for case in node.cases)
    if isinstance(node, Parallel):
        return node.branches
    if isinstance(node, Transaction):
        return (node.body,)
    return ()
