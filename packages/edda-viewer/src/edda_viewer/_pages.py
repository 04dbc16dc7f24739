"""The viewer's routes: ``/`` (instances), ``/workflow/{instance_id}`` (one instance), ``/outbox``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nicegui import ui
from starlette.requests import Request

from edda_viewer._page_detail import DetailPage
from edda_viewer._page_list import InstanceListPageView
from edda_viewer._page_outbox import OutboxPage

if TYPE_CHECKING:
    from edda_viewer._server import Viewer

__all__ = ["register_pages"]


def register_pages(viewer: Viewer) -> None:
    """Add the pages to NiceGUI's application (once per process)."""

    @ui.page("/", title=f"Instances · {viewer.options.title}")
    async def instances(request: Request) -> None:
        await InstanceListPageView(viewer, request).build()

    @ui.page("/workflow/{instance_id:path}", title=f"Instance · {viewer.options.title}")
    async def detail(request: Request, instance_id: str) -> None:
        await DetailPage(viewer, request, instance_id).build()

    @ui.page("/outbox", title=f"Outbox · {viewer.options.title}")
    async def outbox(request: Request) -> None:
        await OutboxPage(viewer, request).build()
