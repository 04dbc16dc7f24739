"""``/outbox``: outbox events waiting to be sent or given up on, with their last error; re-send and skip."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from nicegui import ui
from starlette.requests import Request

from edda.exceptions import EddaError
from edda.storage.records import RESENDABLE_OUTBOX_STATUSES, SKIPPABLE_OUTBOX_STATUSES, OutboxEvent, OutboxStatus
from edda_viewer._data import ActionRefused
from edda_viewer._layout import frame, instance_href, when

if TYPE_CHECKING:
    from edda_viewer._server import Viewer

__all__ = ["OutboxPage"]

_NEEDS_ATTENTION = "pending+failed"
_LIMIT = 200
_FIELDS = ("seq", "event_type", "instance_id", "status", "attempts", "last_error", "next_attempt", "actions")
_COLUMNS = [{"name": f, "label": f.replace("_", " "), "field": f, "align": "left"} for f in _FIELDS]
_COLUMNS[_FIELDS.index("last_error")]["style"] = "white-space: normal; min-width: 16rem; max-width: 32rem"
_INSTANCE_CELL = '<q-td :props="props"><a v-if="props.row.href" :href="props.row.href">{{ props.value }}</a></q-td>'
_ACTIONS_CELL = """<q-td :props="props">
  <q-btn v-if="props.row.can_resend" flat dense no-caps color="primary" label="Re-send" data-action="resend"
         @click="() => $parent.$emit('resend', props.row)" />
  <q-btn v-if="props.row.can_skip" flat dense no-caps color="negative" label="Skip" data-action="skip"
         @click="() => $parent.$emit('skip', props.row)" />
</q-td>"""


class OutboxPage:
    """One browser tab's outbox view."""

    def __init__(self, viewer: Viewer, request: Request) -> None:
        self.viewer = viewer
        self.request = request
        self.shown: list[tuple[Any, ...]] = []

    async def build(self) -> None:
        frame(self.viewer, self.request, current="/outbox")
        choices = {_NEEDS_ATTENTION: "pending and failed", **{s.value: s.value for s in OutboxStatus}, "": "all"}
        with ui.column().classes("w-full p-4 gap-2"):
            with ui.row().classes("items-end gap-2"):
                self.status = ui.select(choices, value=_NEEDS_ATTENTION, label="Status", on_change=self.load)
                self.status.classes("w-56").props("dense")
                self.status.props["data-testid"] = "outbox-status"
                ui.label(f"oldest first, at most {_LIMIT}").classes("text-sm opacity-70")
            self.message = ui.label().classes("text-negative")
            self.table = ui.table(columns=_COLUMNS, rows=[], row_key="event_id").classes("w-full")
            self.table.props('flat bordered dense :pagination="{rowsPerPage: 0}" hide-pagination')
            self.table.props["data-testid"] = "outbox"
            self.table.add_slot("body-cell-instance_id", _INSTANCE_CELL)
            self.table.add_slot("body-cell-actions", _ACTIONS_CELL)
            self.table.on("resend", lambda e: self.act("resend", e.args))
            self.table.on("skip", lambda e: self.act("skip", e.args))
        await self.load()
        ui.timer(self.viewer.options.refresh_interval, self.load, immediate=False)

    async def _events(self) -> list[OutboxEvent]:
        status = self.status.value
        data = self.viewer.data
        if status == _NEEDS_ATTENTION:
            pending, failed = await asyncio.gather(
                data.outbox(status=OutboxStatus.PENDING, limit=_LIMIT),
                data.outbox(status=OutboxStatus.FAILED, limit=_LIMIT),
            )
            return sorted([*pending, *failed], key=lambda e: e.seq)[:_LIMIT]
        return await data.outbox(status=status or None, limit=_LIMIT)

    async def load(self) -> None:
        try:
            events = await self._events()
        except Exception as exc:
            self.message.set_text(f"Could not read the outbox: {self.viewer.explain(exc)}")
            return
        self.message.set_text("")
        fingerprint = [(e.event_id, e.status, e.attempts, e.last_error) for e in events]
        if fingerprint != self.shown:
            self.shown = fingerprint
            self.table.rows = [self._row(e) for e in events]
            self.table.update()

    def _row(self, event: OutboxEvent) -> dict[str, Any]:
        actions = self.viewer.data.outbox_actions
        return {
            "event_id": event.event_id,
            "seq": event.seq,
            "event_type": event.event_type,
            "instance_id": event.instance_id or "",
            "href": instance_href(event.instance_id) if event.instance_id else "",
            "status": event.status,
            "attempts": event.attempts,
            "last_error": (event.last_error or "")[:300],
            "next_attempt": when(event.next_attempt_at) if event.next_attempt_at else "",
            "can_resend": actions and event.status in RESENDABLE_OUTBOX_STATUSES,
            "can_skip": actions and event.status in SKIPPABLE_OUTBOX_STATUSES,
        }

    async def act(self, action: str, row: Any) -> None:
        event_id = str(row.get("event_id", "")) if isinstance(row, dict) else ""
        try:
            if action == "resend":
                await self.viewer.data.resend_outbox(event_id)
            else:
                await self.viewer.data.skip_outbox(event_id)
        except (EddaError, ActionRefused, ValueError) as exc:
            ui.notify(f"Not done: {self.viewer.explain(exc)}", type="negative")
            return
        ui.notify(f"{'Re-sent' if action == 'resend' else 'Skipped'} {event_id}", type="positive")
        await self.load()
