"""The frame every page shares: the header with navigation, the database it shows, and the dark-mode toggle; and
the small helpers that format values the same way everywhere."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from nicegui import ui
from starlette.requests import Request

if TYPE_CHECKING:
    from edda_viewer._server import Viewer

__all__ = ["DARK_COOKIE", "STATUS_COLORS", "frame", "instance_href", "pretty_json", "status_badge", "when"]

DARK_COOKIE = "edda_viewer_dark"

STATUS_COLORS = {
    "running": "primary",
    "waiting_for_timer": "orange",
    "waiting_for_event": "orange",
    "waiting_for_message": "orange",
    "compensating": "purple",
    "completed": "positive",
    "failed": "negative",
    "cancelled": "grey-7",
}


_CSS = """
.q-timeline__title { font-size: 1rem; line-height: 1.4rem; margin-bottom: 0; }
.q-timeline__subtitle { font-size: 0.7rem; margin-bottom: 2px; }
.q-timeline__content { padding-bottom: 10px; }
.q-timeline--dense--right .q-timeline__entry { padding-left: 36px; }
"""


def instance_href(instance_id: str) -> str:
    """The detail page of an instance (ids may hold any character: the path segment is encoded)."""
    return "/workflow/" + quote(instance_id, safe="")


def when(moment: datetime | None) -> str:
    """A timestamp as the pages show it: UTC, to the millisecond."""
    if moment is None:
        return "—"
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d} UTC"


def pretty_json(value: Any) -> str:
    """``value`` as indented JSON (anything JSON cannot show is shown by its ``repr``)."""
    return json.dumps(value, indent=2, ensure_ascii=False, default=repr, sort_keys=False)


def status_badge(status: str) -> ui.badge:
    return ui.badge(status, color=STATUS_COLORS.get(status, "grey")).props("data-status=" + status)


def frame(viewer: Viewer, request: Request, *, current: str) -> None:
    """The header: title, navigation, the database (kind, host and name only), dark mode."""
    dark = ui.dark_mode(value=request.cookies.get(DARK_COOKIE) == "1")

    def toggle() -> None:
        dark.toggle()
        flag = "1" if dark.value else "0"
        ui.run_javascript(f"document.cookie = '{DARK_COOKIE}={flag}; path=/; SameSite=Strict; max-age=31536000'")

    ui.add_css(_CSS)
    with ui.header().classes("items-center gap-4 px-4 py-2"):
        ui.link(viewer.options.title, "/").classes("text-xl font-bold text-white no-underline")
        for label, href in (("Instances", "/"), ("Outbox", "/outbox")):
            link = ui.link(label, href).classes("text-white")
            if href == current:
                link.classes("underline font-bold")
        ui.space()
        ui.label(viewer.database).classes("text-sm opacity-80").props("data-testid=database")
        if viewer.options.read_only:
            ui.badge("read-only", color="grey-8")
        ui.button(icon="dark_mode", on_click=toggle).props("flat round color=white aria-label='dark mode'")
