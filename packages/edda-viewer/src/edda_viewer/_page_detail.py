"""``/workflow/{instance_id}``: one instance, its input and output, errors, diagram, timeline, compensations and
messages, updated live; and the Cancel action."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nicegui import ui
from starlette.requests import Request

from edda.exceptions import EddaError
from edda_viewer._data import ActionRefused, InstanceDetail
from edda_viewer._detail_parts import (
    compensation_table,
    error_panel,
    json_panel,
    message_table,
    timeline,
)
from edda_viewer._diagram import diagram_source
from edda_viewer._layout import frame, status_badge, when

if TYPE_CHECKING:
    from edda_viewer._server import Viewer

__all__ = ["DetailPage"]


class DetailPage:
    """One browser tab's view of one instance."""

    def __init__(self, viewer: Viewer, request: Request, instance_id: str) -> None:
        self.viewer = viewer
        self.request = request
        self.instance_id = instance_id
        self.iteration: int | None = None
        self.detail: InstanceDetail | None = None

    async def build(self) -> None:
        frame(self.viewer, self.request, current="")
        self.content = ui.column().classes("w-full p-4 gap-3")
        detail = await self._fetch()
        if detail is None:
            with self.content:
                ui.label(f"No workflow instance {self.instance_id!r} in this database.").classes("text-lg")
                ui.link("Back to the instances", "/")
            return
        self._render(detail)
        ui.timer(self.viewer.options.refresh_interval, self.refresh, immediate=False)

    async def _fetch(self) -> InstanceDetail | None:
        return await self.viewer.data.instance_detail(self.instance_id, iteration=self.iteration)

    async def refresh(self) -> None:
        """The live update: redraw only when the instance or its history changed."""
        try:
            detail = await self._fetch()
        except Exception:
            return  # keep showing the last state; the next tick tries again
        if detail is not None and (self.detail is None or detail.fingerprint() != self.detail.fingerprint()):
            self._render(detail)

    def _render(self, detail: InstanceDetail) -> None:
        self.detail = detail
        record = detail.record
        self.content.clear()
        with self.content:
            self._summary(detail)
            with ui.row().classes("w-full gap-3 items-stretch"):
                json_panel("Input", record.input_data, key="input")
                if record.status == "completed":
                    json_panel("Output", record.output_data, key="output")
            if record.error:
                error_panel(record.error)
            self._diagram(detail)
            timeline(detail)
            compensation_table(detail.history)
            message_table(detail.history)

    def _summary(self, detail: InstanceDetail) -> None:
        record = detail.record
        with ui.row().classes("w-full items-center gap-3"):
            ui.button(icon="arrow_back", on_click=lambda: ui.navigate.to("/")).props("flat round aria-label=back")
            ui.label(record.instance_id).classes("text-xl font-mono").props("data-testid=instance-id")
            status_badge(record.status).classes("text-sm").props("data-testid=instance-status")
            ui.label(record.workflow_name).classes("text-lg opacity-80")
            ui.space()
            if record.iteration > 0:
                choices = {i: f"iteration {i}" for i in range(record.iteration + 1)}
                ui.select(choices, value=detail.iteration, on_change=self._pick_iteration).props("dense")
            if not record.is_finished and not self.viewer.options.read_only:
                cancel = ui.button("Cancel", icon="cancel", color="negative", on_click=self._confirm_cancel)
                cancel.props("no-caps").props["data-testid"] = "cancel"
        with ui.row().classes("gap-6 text-sm"):
            for label, value in (
                ("started", when(record.created_at)),
                ("updated", when(record.updated_at)),
                ("finished", when(record.completed_at)),
            ):
                ui.label(f"{label}: {value}")
            if record.cancel_requested and not record.is_finished:
                ui.label("cancellation requested: a worker that defines this workflow runs its compensations")
            if detail.workflow is None:
                ui.label("code not imported here (start the viewer with -m <module> to draw its structure)")

    def _diagram(self, detail: InstanceDetail) -> None:
        source = diagram_source(detail.workflow, detail.record, detail.history)
        with ui.card().classes("w-full"):
            ui.label("Execution flow").classes("font-medium")
            if source is None:
                ui.label("The diagram is not available.").classes("text-sm opacity-70")
            else:
                ui.mermaid(source).classes("w-full").props["data-testid"] = "diagram"

    async def _pick_iteration(self, event: Any) -> None:
        self.iteration = int(event.value)
        detail = await self._fetch()
        if detail is not None:
            self._render(detail)

    async def _confirm_cancel(self) -> None:
        with ui.dialog() as dialog, ui.card():
            ui.label(f"Cancel {self.instance_id}? Its registered compensations run, newest first.")
            with ui.row().classes("w-full justify-end"):
                ui.button("Keep running", on_click=lambda: dialog.submit(False)).props("flat no-caps")
                confirm = ui.button("Cancel it", color="negative", on_click=lambda: dialog.submit(True))
                confirm.props("no-caps").props["data-testid"] = "confirm-cancel"
        if not await dialog:
            return
        try:
            done = await self.viewer.data.cancel(self.instance_id)
        except (EddaError, ActionRefused) as exc:
            ui.notify(f"Not cancelled: {self.viewer.explain(exc)}", type="negative")
            return
        ui.notify("Cancelled." if done else "Cancellation requested.", type="positive")
        await self.refresh()
