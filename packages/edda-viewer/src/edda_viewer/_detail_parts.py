"""The sections of the detail page: JSON panels, the error, the timeline, compensations and messages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from nicegui import ui

from edda.storage.records import HistoryEvent
from edda_viewer._data import InstanceDetail
from edda_viewer._layout import pretty_json, when
from edda_viewer._timeline import StepKind, TimelineStep, build_timeline, compensations, messages, waiting_step

__all__ = ["compensation_table", "error_panel", "json_panel", "message_table", "timeline"]

_OUTCOME_COLORS = {
    "completed": "positive",
    "executed": "purple",
    "failed": "negative",
    "retrying": "orange",
    "waiting": "orange",
    "timed out": "orange",
}
_KIND_ICONS = {
    StepKind.ACTIVITY: "bolt",
    StepKind.COMPENSATION: "undo",
    StepKind.REGISTRATION: "bookmark_add",
    StepKind.TIMER: "schedule",
    StepKind.RECEIVE: "inbox",
    StepKind.PUBLISH: "outbox",
    StepKind.SUBSCRIBE: "notifications",
    StepKind.UNSUBSCRIBE: "notifications_off",
    StepKind.SEND_EVENT: "send",
    StepKind.WAIT: "hourglass_empty",
}


def json_panel(title: str, value: Any, *, key: str) -> None:
    with ui.card().classes("grow min-w-[18rem] max-w-full"):
        with ui.expansion(title, value=True).classes("w-full"):
            shown = f"<{len(value)} bytes>" if isinstance(value, bytes) else pretty_json(value)
            ui.code(shown, language="json").classes("w-full text-xs").props["data-testid"] = key


def error_panel(error: Mapping[str, Any]) -> None:
    with ui.card().classes("w-full border-l-4 border-red-600"):
        ui.label(f"{error.get('error_type', 'Error')}: {error.get('message', '')}").classes("text-negative font-medium")
        trace = error.get("traceback")
        if trace:
            with ui.expansion("Traceback").classes("w-full"):
                # Plain text, not Markdown: an exception's message may hold anything.
                shown = ui.label(str(trace)).classes("w-full whitespace-pre-wrap font-mono text-xs p-2")
                shown.props["data-testid"] = "traceback"


def _facts(step: TimelineStep) -> str:
    parts = [step.kind.value, f"id {step.step_id}" if step.step_id else ""]
    if step.duration_ms is not None:
        parts.append(f"{'waited ' if step.kind is not StepKind.ACTIVITY else ''}{step.duration_ms} ms")
    if step.attempts > 1:
        parts.append(f"{step.attempts} attempts")
    if step.compensation:
        parts.append(f"compensation: {step.compensation}")
    return " · ".join(p for p in parts if p)


def _same_error(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return (a.get("error_type"), a.get("message")) == (b.get("error_type"), b.get("message"))


def _entry(step: TimelineStep) -> None:
    color = _OUTCOME_COLORS.get(step.outcome, "primary")
    entry = ui.timeline_entry(
        title=f"{step.name} — {step.outcome}",
        subtitle=when(step.at) if step.at else "now",
        icon=_KIND_ICONS.get(step.kind, "circle"),
        color=color,
    )
    entry.props["data-step-id"] = step.step_id
    entry.props["data-kind"] = step.kind.value
    entry.props["data-outcome"] = step.outcome
    with entry:
        ui.label(_facts(step)).classes("text-xs opacity-80")
        for error in step.errors:
            ui.label(f"attempt {error.get('attempt')}: {error.get('error_type')}: {error.get('message')}").classes(
                "text-xs text-negative"
            )
        final = step.error
        if final and not any(_same_error(final, e) for e in step.errors):
            ui.label(f"{final.get('error_type')}: {final.get('message')}").classes("text-xs text-negative")
        detail = {k: v for k, v in step.detail.items() if v is not None}
        if detail:
            with ui.expansion("details").classes("w-full text-xs"):
                ui.code(pretty_json(detail), language="json").classes("w-full text-xs")


def timeline(detail: InstanceDetail) -> None:
    steps = build_timeline(detail.history)
    pending = waiting_step(detail.record)
    if pending is not None:
        steps.append(pending)
    with ui.card().classes("w-full"):
        ui.label(f"History ({len(detail.history)} entries, iteration {detail.iteration})").classes("font-medium")
        if not steps:
            ui.label("Nothing recorded yet.").classes("text-sm opacity-70")
            return
        with ui.timeline(side="right", layout="dense").classes("w-full").props("data-testid=timeline"):
            for step in steps:
                _entry(step)


def _table(title: str, columns: list[str], rows: list[dict[str, Any]], testid: str) -> None:
    with ui.card().classes("w-full"):
        ui.label(title).classes("font-medium")
        specs = [{"name": c, "label": c.replace("_", " "), "field": c, "align": "left"} for c in columns]
        table = ui.table(columns=specs, rows=rows, row_key="key").classes("w-full")
        table.props('flat dense :pagination="{rowsPerPage: 0}" hide-pagination')
        table.props["data-testid"] = testid


def compensation_table(history: Sequence[HistoryEvent]) -> None:
    views = compensations(history)
    if not views:
        return
    rows = [
        {
            "key": v.step_id,
            "compensation": v.name,
            "for_step": v.for_step or "",
            "status": v.status,
            "at": when(v.at),
            "error": f"{v.error.get('error_type')}: {v.error.get('message')}" if v.error else "",
        }
        for v in views
    ]
    _table("Compensations", ["compensation", "for_step", "status", "at", "error"], rows, "compensations")


def message_table(history: Sequence[HistoryEvent]) -> None:
    views = messages(history)
    if not views:
        return
    rows = [
        {
            "key": f"{v.step_id}/{i}",
            "direction": v.direction,
            "channel": v.channel,
            "step": v.step_id,
            "message_id": v.message_id or "",
            "data": "" if v.data is None else pretty_json(v.data)[:300],
            "at": when(v.at),
        }
        for i, v in enumerate(views)
    ]
    _table("Messages and events", ["direction", "channel", "step", "message_id", "data", "at"], rows, "messages")
