"""The "Start workflow" dialog: choose a registered workflow, fill in the form generated from its type hints, and
start it once the form validates."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nicegui import ui

from edda.exceptions import EddaError
from edda_viewer._data import ActionRefused
from edda_viewer._form_schema import form_for_workflow
from edda_viewer._form_ui import StartForm
from edda_viewer._form_values import read_form
from edda_viewer._layout import instance_href

if TYPE_CHECKING:
    from edda_viewer._server import Viewer

__all__ = ["StartDialog"]


class StartDialog:
    """A dialog that starts any workflow registered in this process."""

    def __init__(self, viewer: Viewer) -> None:
        self.viewer = viewer
        self.form: StartForm | None = None
        workflows = viewer.data.workflows()
        with ui.dialog() as self.dialog, ui.card().classes("w-[40rem] max-w-full gap-2") as card:
            card.props["data-testid"] = "start-dialog"
            ui.label("Start a workflow").classes("text-lg font-medium")
            if not workflows:
                ui.label(
                    "No workflow is registered in this process. Start the viewer with -m <module> for each module "
                    "that defines workflows (e.g. -m examples.quickstart)."
                ).classes("text-sm")
            self.choice = ui.select(list(workflows), label="Workflow", on_change=self._choose).classes("w-full")
            self.choice.props["data-testid"] = "workflow-choice"
            self.instance_id = ui.input("Instance id (optional: a new id is generated)").classes("w-full")
            self.body = ui.column().classes("w-full gap-2")
            self.message = ui.label().classes("text-negative text-sm")
            with ui.row().classes("w-full justify-end"):
                ui.button("Cancel", on_click=self.dialog.close).props("flat no-caps")
                self.submit = ui.button("Start", icon="play_arrow", on_click=self.start).props("no-caps")
                self.submit.props["data-testid"] = "start-submit"
        if len(workflows) == 1:
            self.choice.set_value(next(iter(workflows)))

    def open(self) -> None:
        self.dialog.open()

    def _choose(self) -> None:
        self.body.clear()
        self.message.set_text("")
        workflow = self.viewer.data.workflow(self.choice.value or "")
        self.form = None
        if workflow is None:
            return
        with self.body:
            doc = (workflow.func.__doc__ or "").strip().split("\n\n")[0]
            if doc:
                ui.label(doc).classes("text-sm opacity-80")
            self.form = StartForm(form_for_workflow(workflow))

    async def start(self) -> None:
        if self.form is None:
            self.message.set_text("Choose a workflow first.")
            return
        kwargs, errors = read_form(self.form.fields, self.form.raw())
        self.form.show_errors(errors)
        if errors:
            self.message.set_text(f"Fix the {len(errors)} field(s) marked above; nothing was started.")
            return
        try:
            instance_id = await self.viewer.data.start(
                self.choice.value, kwargs, instance_id=(self.instance_id.value or "").strip() or None
            )
        except (EddaError, ValueError, ActionRefused) as exc:
            self.message.set_text(f"Not started: {self.viewer.explain(exc)}")
            return
        self.dialog.close()
        ui.notify(f"Started {instance_id}", type="positive")
        ui.navigate.to(instance_href(instance_id))
