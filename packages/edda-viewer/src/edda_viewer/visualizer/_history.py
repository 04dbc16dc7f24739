"""Which recorded history entry belongs to which step of the code.

History does not name source lines; it names what ran: ``ActivityCompleted`` carries the activity's name, a
received event its channel, a registered compensation its function's name, a fired timer nothing but its order.
So entries are matched to the graph's steps by kind and name, walking the diagram's control flow from the step
matched last: the nearest step that can have recorded the entry is the one (a loop's back edge leads to its own
body before the code after it). A step whose name is computed (an f-string event type) matches any entry of its
kind, but only when no step with the exact name is reachable. An entry that matches no step (an activity called
inside a helper function, say) is kept as *unplaced*, after the step matched before it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from edda.storage.records import HistoryEventType as H
from edda_viewer.visualizer._mermaid import Flow
from edda_viewer.visualizer._nodes import Step, StepKind, WorkflowGraph

__all__ = ["Alignment", "Key", "SiteRecord", "Unplaced", "align", "event_key", "field_of", "search", "site_key"]

Key = tuple[str, str | None]  # (kind, name): ("activity", "charge"), ("event", "payment.done"), ("timer", None)
Ref = tuple[str, int]

_STEP_EVENTS = frozenset(
    {
        H.ACTIVITY_COMPLETED,
        H.ACTIVITY_FAILED,
        H.COMPENSATION_REGISTERED,
        H.TIMER_FIRED,
        H.MESSAGE_RECEIVED,
        H.RECEIVE_TIMED_OUT,
        H.MESSAGE_PUBLISHED,
        H.CHANNEL_SUBSCRIBED,
        H.CHANNEL_UNSUBSCRIBED,
        H.EVENT_SENT,
    }
)
_SITE_KINDS: dict[StepKind, str] = {
    StepKind.ACTIVITY: "activity",
    StepKind.CALL: "activity",  # an awaited call may turn out to be an activity after all
    StepKind.COMPENSATION: "compensation",
    StepKind.SLEEP: "timer",
    StepKind.WAIT_EVENT: "event",
    StepKind.RECEIVE: "message",
    StepKind.PUBLISH: "publish",
    StepKind.SUBSCRIBE: "subscribe",
    StepKind.UNSUBSCRIBE: "unsubscribe",
    StepKind.SEND_EVENT: "send_event",
}


def field_of(event: Any, name: str) -> Any:
    """A field of a history entry: a ``HistoryEvent`` record or a mapping with the same keys."""
    if isinstance(event, Mapping):
        return event.get(name)  # pyright: ignore[reportUnknownMemberType]
    return getattr(event, name, None)


def _data(event: Any) -> Mapping[str, Any]:
    data = field_of(event, "event_data")
    return data if isinstance(data, Mapping) else {}


def event_key(event: Any) -> Key | None:
    """The kind and name of the step a history entry records (``None`` for entries that are not steps)."""
    kind = field_of(event, "event_type")
    data = _data(event)
    step_id = str(field_of(event, "activity_id") or "")
    if kind in (H.ACTIVITY_COMPLETED, H.ACTIVITY_FAILED):
        return ("activity", data.get("activity_name"))
    if kind == H.COMPENSATION_REGISTERED:
        return ("compensation", data.get("compensation_name"))
    if kind == H.TIMER_FIRED:
        return ("timer", None)
    if kind in (H.MESSAGE_RECEIVED, H.RECEIVE_TIMED_OUT):
        if data.get("kind") in ("event", "message"):
            return (data["kind"], data.get("channel"))
        prefix = step_id.split(":", 1)[0]
        return ({"wait_event": "event", "receive": "message"}.get(prefix, "wait"), data.get("channel"))
    if kind == H.MESSAGE_PUBLISHED:
        return ("publish", data.get("channel"))
    if kind == H.CHANNEL_SUBSCRIBED:
        return ("subscribe", data.get("channel"))
    if kind == H.CHANNEL_UNSUBSCRIBED:
        return ("unsubscribe", data.get("channel"))
    if kind == H.EVENT_SENT:
        return ("send_event", data.get("event_type"))
    return None


def site_key(step: Step) -> Key | None:
    """The kind and name history records for ``step`` (``None``: it leaves no entry, like ``ctx.recur``)."""
    kind = _SITE_KINDS.get(step.kind)
    if kind is None:
        return None
    return (kind, step.name if kind == "activity" else step.key)


def _compatible(site: Key, event: Key, *, exact: bool) -> bool:
    same_kind = site[0] == event[0] or (event[0] == "wait" and site[0] in ("event", "message"))
    if not same_kind:
        return False
    if exact:
        return site[1] is not None and site[1] == event[1]
    return site[1] is None or event[1] is None


def search(flow: Flow, keys: Mapping[int, Key], trail: Sequence[str], key: Key, seen: Mapping[int, int]) -> int | None:
    """The site that recorded ``key``: the nearest along the flow from the newest position in ``trail`` that reaches
    one, preferring a site with the same name over one whose name is computed, then the least matched so far.

    Falling back to older positions handles jumps the flow from the newest one cannot make: a sibling of an
    ``asyncio.gather`` (they finish in any order), an ``except`` handler (entered from inside the ``try``).
    """
    for origin in reversed(trail):
        best: tuple[int, int, int, int] | None = None
        for distance, site in flow.reachable(origin):
            site_key = keys.get(site)
            if site_key is None:
                continue
            for rank, exact in ((0, True), (1, False)):
                if _compatible(site_key, key, exact=exact):
                    candidate = (rank, distance, seen.get(site, 0), site)
                    best = candidate if best is None or candidate < best else best
                    break
        if best is not None:
            return best[3]
    return None


@dataclass
class SiteRecord:
    """What history says about one step of the code (or one unplaced entry)."""

    completed: int = 0
    failed: int = 0
    timed_out: int = 0
    retries: int = 0
    last: str | None = None  # "completed", "failed" or "timed_out"
    error: str | None = None
    compensation: str | None = None  # registered or attached in history
    compensated: int = 0
    compensation_failed: int = 0


@dataclass
class Unplaced:
    """A recorded step with no site in the code's graph."""

    anchor: int | None
    key: Key
    record: SiteRecord


@dataclass
class Alignment:
    """History laid over the sites of a graph."""

    records: dict[int, SiteRecord] = field(default_factory=dict)
    unplaced: list[Unplaced] = field(default_factory=list)
    trail: list[str] = field(default_factory=lambda: ["Start"])  # nodes reached, newest last (each once)
    last_site: int | None = None
    visits: list[int] = field(default_factory=list)  # sites in the order history reached them
    failed: Ref | None = None  # the step whose failure was recorded last
    compensations_run: list[Ref] = field(default_factory=list)  # ("comp", site) / ("extra_comp", index), in order
    registered: list[Ref] = field(default_factory=list)  # compensations registered, oldest first
    retrying: dict[str, tuple[str, int]] = field(default_factory=dict)  # step id -> (activity, failed attempts)

    def record(self, ref: Ref) -> SiteRecord:
        kind, number = ref
        if kind in ("step", "comp"):
            return self.records.setdefault(number, SiteRecord())
        return self.unplaced[number].record

    @property
    def pending_compensations(self) -> list[Ref]:
        """Registered compensations that have not run, newest first (the order they run in)."""
        ran = set(self.compensations_run)
        return [ref for ref in reversed(self.registered) if ref not in ran]


def align(graph: WorkflowGraph, history: Sequence[Any], flow: Flow) -> Alignment:
    """Match each recorded step of ``history`` (in order) to a step of ``graph``, walking its ``flow``."""
    keys = {s.site: k for s in graph.steps() if (k := site_key(s)) is not None}
    result = Alignment()
    placed: dict[str, Ref] = {}
    registrations: dict[str, Ref] = {}
    attempts: dict[str, tuple[str, int]] = {}
    for event in history:
        kind = field_of(event, "event_type")
        step_id = str(field_of(event, "activity_id") or "")
        data = _data(event)
        if kind in _STEP_EVENTS:
            ref = _place(result, flow, keys, event)
            placed[step_id] = ref
            _count(result, ref, kind, data, attempts.pop(step_id, ("", 0))[1])
            if kind == H.COMPENSATION_REGISTERED:
                registrations[step_id] = _compensation_ref(ref)
                result.registered.append(registrations[step_id])
        elif kind == H.ACTIVITY_ATTEMPT_FAILED:
            name, count = attempts.get(step_id, (str(data.get("activity_name") or ""), 0))
            attempts[step_id] = (name, count + 1)
        elif kind == H.COMPENSATION_ATTACHED and step_id in placed:
            result.record(placed[step_id]).compensation = data.get("compensation_name")
            registrations[step_id] = _compensation_ref(placed[step_id])
            result.registered.append(registrations[step_id])
        elif kind in (H.COMPENSATION_EXECUTED, H.COMPENSATION_FAILED) and step_id in registrations:
            ref = registrations[step_id]
            record = result.record(ref)
            if kind == H.COMPENSATION_EXECUTED:
                record.compensated += 1
            else:
                record.compensation_failed += 1
            result.compensations_run.append(ref)
    result.retrying = attempts
    return result


def _place(result: Alignment, flow: Flow, keys: Mapping[int, Key], event: Any) -> Ref:
    key = event_key(event) or ("activity", None)
    seen = {site: r.completed + r.failed + r.timed_out for site, r in result.records.items()}
    site = search(flow, keys, result.trail, key, seen)
    if site is None:  # entries of one kind and name after the same step share a node (a helper's loop)
        for index, unplaced in enumerate(result.unplaced):
            if unplaced.anchor == result.last_site and unplaced.key == key:
                return ("extra", index)
        result.unplaced.append(Unplaced(result.last_site, key, SiteRecord()))
        return ("extra", len(result.unplaced) - 1)
    node = flow.sites[site]
    if node in result.trail:
        result.trail.remove(node)
    result.trail.append(node)
    result.last_site = site
    result.visits.append(site)
    return ("step", site)


def _count(result: Alignment, ref: Ref, kind: str, data: Mapping[str, Any], retries: int) -> None:
    record = result.record(ref)
    record.retries += retries
    if kind == H.ACTIVITY_FAILED:
        record.failed += 1
        record.last = "failed"
        error = data.get("error")
        record.error = str(error.get("error_type")) if isinstance(error, Mapping) and error.get("error_type") else None
        result.failed = ref
    elif kind == H.RECEIVE_TIMED_OUT:
        record.timed_out += 1
        record.last = "timed_out"
    else:
        record.completed += 1
        record.last = "completed"
        if kind == H.COMPENSATION_REGISTERED:
            record.compensation = data.get("compensation_name")


def _compensation_ref(ref: Ref) -> Ref:
    return ("comp", ref[1]) if ref[0] == "step" else ("extra_comp", ref[1])
