"""What the viewer needs beyond edda-core, checked without importing it (standard library only).

The command line module (:mod:`edda_viewer.cli`) must load without NiceGUI, so that ``edda-viewer --help`` works and
running it says what to install instead of failing with a traceback. Everything else in the package needs NiceGUI.
"""

from __future__ import annotations

import importlib.util
import sys

__all__ = ["MISSING_NICEGUI", "imported_for_the_command_line", "nicegui_installed"]

MISSING_NICEGUI = (
    "The Edda viewer needs NiceGUI, which is not installed in this environment: pip install edda-viewer "
    '(or pip install "edda-framework[viewer]")'
)

_COMMAND_LINE_MODULE = "edda_viewer.cli"


def nicegui_installed() -> bool:
    """Whether ``import nicegui`` can succeed (found on the path, not blocked), without importing it."""
    if "nicegui" in sys.modules:
        return sys.modules["nicegui"] is not None
    try:
        return importlib.util.find_spec("nicegui") is not None
    except (ImportError, ValueError):
        return False


def imported_for_the_command_line() -> bool:
    """Whether the package is being imported only as the parent of :mod:`edda_viewer.cli`.

    Python runs a package's ``__init__`` before it imports a submodule. The console script ``edda-viewer`` and the
    ``edda.cli`` entry point import ``edda_viewer.cli``; that import must not fail when NiceGUI is missing, so the
    command can print what to install. The import machinery's frame that loads ``edda_viewer.cli`` names it; when it
    cannot be found (another interpreter), the answer is False and the package's ImportError, which carries the same
    message, is what the user sees.
    """
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "_find_and_load_unlocked" and frame.f_locals.get("name") == _COMMAND_LINE_MODULE:
            return True
        frame = frame.f_back
    return False
