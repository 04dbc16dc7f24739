"""``/``: the instances, newest first, with filters, keyset paging and live updates."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nicegui import ui
from starlette.requests import Request

from edda.storage.records import InstanceStatus
from edda_viewer._data import Cursor, InstanceListPage
from edda_viewer._filters import PAGE_SIZES, FilterError, ListFilters, parse_filters
from edda_viewer._layout import STATUS_COLORS, frame, instance_href, when
from edda_viewer._start_dialog import StartDialog

if TYPE_CHECKING:
    from edda_viewer._server import Viewer

__all__ = ["InstanceListPageView"]

_COLUMNS = [
    {"name": "instance_id", "label": "Instance", "field": "instance_id", "align": "left"},
    {"name": "workflow_name", "label": "Workflow", "field": "workflow_name", "align": "left"},
    {"name": "status", "label": "Status", "field": "status", "align": "left"},
    {"name": "started", "label": "Started", "field": "started", "align": "left"},
    {"name": "updated", "label": "Updated", "field": "updated", "align": "left"},
]
_ID_CELL = (
    '<q-td :props="props"><a :href="props.row.href" class="text-primary font-mono" data-instance-link>'
    "{{ props.value }}</a></q-td>"
)
_STATUS_CELL = (
    '<q-td :props="props"><q-badge :color="props.row.color" :label="props.value" :data-status="props.value" /></q-td>'
)


def _row(record: Any) -> dict[str, Any]:
    return {
        "instance_id": record.instance_id,
        "href": instance_href(record.instance_id),
        "workflow_name": record.workflow_name,
        "status": record.status,
        "color": STATUS_COLORS.get(record.status, "grey"),
        "started": when(record.created_at),
        "updated": when(record.updated_at),
    }


class InstanceListPageView:
    """One browser tab's instance list: its filters, its position (a stack of cursors) and its table."""

    def __init__(self, viewer: Viewer, request: Request) -> None:
        self.viewer = viewer
        self.request = request
        self.filters = ListFilters()
        self.cursors: list[Cursor | None] = [None]  # where each page visited so far starts
        self.page: InstanceListPage | None = None

    async def build(self) -> None:
        frame(self.viewer, self.request, current="/")
        with ui.column().classes("w-full p-4 gap-2"):
            self._controls()
            if self.viewer.options.retention_days is not None:
                await self._retention(self.viewer.options.retention_days)
            self.message = ui.label().classes("text-negative")
            self.table = ui.table(columns=_COLUMNS, rows=[], row_key="instance_id").classes("w-full")
            self.table.props('flat bordered dense :pagination="{rowsPerPage: 0}" hide-pagination')
            self.table.add_slot("body-cell-instance_id", _ID_CELL)
            self.table.add_slot("body-cell-status", _STATUS_CELL)
            with ui.row().classes("items-center gap-2"):
                self.previous = ui.button("Previous", icon="chevron_left", on_click=self.go_back).props("flat no-caps")
                self.position = ui.label().props("data-testid=page-number")
                self.next = ui.button("Next", icon="chevron_right", on_click=self.go_next).props("flat no-caps")
        await self.load()
        ui.timer(self.viewer.options.refresh_interval, self.refresh, immediate=False)

    def _controls(self) -> None:
        statuses = {"": "any status", **{s.value: s.value for s in InstanceStatus}}
        with ui.row().classes("w-full items-end gap-2"):
            self.search = ui.input("Search name or id").props("debounce=400 clearable dense").classes("w-56")
            self.status = ui.select(statuses, value="", label="Status").props("dense").classes("w-48")
            self.date_from = ui.input("From (UTC)").props("type=date dense stack-label").classes("w-40")
            self.date_to = ui.input("To (UTC)").props("type=date dense stack-label").classes("w-40")
            self.inputs = ui.input("Input filter", placeholder="customer.id=C-4; amount=42")
            self.inputs.props("debounce=600 clearable dense").classes("w-72")
            self.page_size = ui.select(list(PAGE_SIZES), value=25, label="Page size").props("dense").classes("w-28")
            ui.space()
            if not self.viewer.options.read_only:
                dialog = StartDialog(self.viewer)
                start = ui.button("Start workflow", icon="play_arrow", on_click=dialog.open).props("no-caps")
                start.props["data-testid"] = "start-workflow"
        controls = {
            "search": self.search,
            "status": self.status,
            "date-from": self.date_from,
            "date-to": self.date_to,
            "input-filter": self.inputs,
            "page-size": self.page_size,
        }
        for testid, control in controls.items():
            control.props["data-testid"] = testid
            control.on_value_change(self.apply_filters)

    async def _retention(self, days: float) -> None:
        try:
            cutoff, due = await self.viewer.data.retention_due(days)
        except Exception as exc:  # the database is unreachable: the table's message says so
            note = f"Retention: could not count the instances it deletes ({self.viewer.explain(exc)})"
        else:
            period = f"{days:g} day{'' if days == 1 else 's'}"
            note = (
                f"Retention: instances that finished more than {period} ago (before {when(cutoff)}) are deleted with "
                f"their history when your app runs with instance_retention_days={days:g}; {due} are past it now."
            )
        ui.label(note).classes("text-caption text-grey-8").props("data-testid=retention")

    async def apply_filters(self) -> None:
        fields = {"search": self.search, "date_from": self.date_from, "date_to": self.date_to, "input": self.inputs}
        for element in fields.values():
            element.error = None
        try:
            self.filters = parse_filters(
                search=self.search.value or "",
                status=self.status.value or None,
                date_from=self.date_from.value or "",
                date_to=self.date_to.value or "",
                input_text=self.inputs.value or "",
                page_size=int(self.page_size.value or 25),
            )
        except FilterError as exc:
            target = fields.get(exc.field)
            if target is not None:
                target.error = str(exc)
            else:
                self.message.set_text(str(exc))
            return
        self.cursors = [None]
        await self.load()

    async def go_next(self) -> None:
        if self.page is not None and self.page.next_cursor is not None:
            self.cursors.append(self.page.next_cursor)
            await self.load()

    async def go_back(self) -> None:
        if len(self.cursors) > 1:
            self.cursors.pop()
            await self.load()

    async def _fetch(self) -> InstanceListPage | None:
        try:
            return await self.viewer.data.list_instances(self.filters, self.cursors[-1])
        except Exception as exc:  # the database is unreachable, a filter the storage refuses, ...
            self.message.set_text(f"Could not read the instances: {self.viewer.explain(exc)}")
            return None

    async def load(self) -> None:
        page = await self._fetch()
        if page is not None:
            self.message.set_text("")
            self._show(page)

    async def refresh(self) -> None:
        """The live update: re-read the current page, and redraw only if something changed."""
        page = await self._fetch()
        if page is not None and (self.page is None or page.fingerprint() != self.page.fingerprint()):
            self._show(page)

    def _show(self, page: InstanceListPage) -> None:
        self.page = page
        self.table.rows = [_row(r) for r in page.rows]
        self.table.update()
        self.position.set_text(f"page {len(self.cursors)}" + ("" if page.rows else " (no instances)"))
        self.previous.set_enabled(len(self.cursors) > 1)
        self.next.set_enabled(page.next_cursor is not None)
