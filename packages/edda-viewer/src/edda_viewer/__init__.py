"""Edda viewer: see, start and operate durable workflows in the browser (NiceGUI).

Beside your app, in its process::

    from edda_viewer import start_viewer
    start_viewer(app, port=8080)

On its own: ``edda-viewer --db sqlite:///app.db -m myapp.workflows`` (see ``edda-viewer --help``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from edda_viewer._options import ViewerAuth
from edda_viewer._requirements import MISSING_NICEGUI, imported_for_the_command_line, nicegui_installed

if TYPE_CHECKING:
    from edda_viewer._server import start_viewer as start_viewer

__version__ = "1.0.0"

__all__ = ["ViewerAuth", "start_viewer"]

if not nicegui_installed() and not imported_for_the_command_line():
    raise ImportError(MISSING_NICEGUI, name="nicegui")


def __getattr__(name: str) -> Any:
    """PEP 562: ``start_viewer`` loads NiceGUI on first use (the command line can then report it missing)."""
    if name == "start_viewer":
        if not nicegui_installed():
            raise ImportError(MISSING_NICEGUI, name="nicegui")
        from edda_viewer._server import start_viewer

        return start_viewer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
