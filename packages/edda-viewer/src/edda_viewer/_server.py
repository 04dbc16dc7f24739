"""Serving the viewer: ``start_viewer`` (beside an app, in its process) and the standalone command's server.

NiceGUI keeps one application per process, so the viewer registers its pages on it once and runs it with
``ui.run``; the :class:`edda.EddaApp` is initialized on that server's event loop at startup and shut down with it.
"""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass

from nicegui import app as nicegui_app
from nicegui import ui

from edda import EddaApp
from edda.exceptions import ConfigurationError
from edda_viewer._auth import AuthGate
from edda_viewer._data import ViewerData
from edda_viewer._options import ViewerAuth, ViewerOptions, describe_database, redact
from edda_viewer._pages import register_pages

__all__ = ["Viewer", "run_standalone", "start_viewer"]


@dataclass
class Viewer:
    """What the pages share: the app's data access, the options, and how to name the database."""

    data: ViewerData
    options: ViewerOptions
    database: str
    db_url: str | None = None

    def explain(self, exc: BaseException) -> str:
        """An error as the pages show it: its type and message, without the database URL or password."""
        return redact(f"{type(exc).__name__}: {exc}", self.db_url)


_served = False


def start_viewer(
    edda_app: EddaApp,
    port: int = 8080,
    *,
    host: str = "127.0.0.1",
    token: str | None = None,
    username: str | None = None,
    password: str | None = None,
    insecure: bool = False,
    read_only: bool = False,
    refresh_interval: float = 2.0,
    title: str = "Edda",
    reload: bool = False,
) -> None:
    """Serve the viewer for ``edda_app`` until the process is stopped (Ctrl-C); blocks.

    The app is used as it is: initialized on the viewer's event loop at startup (so, unless it was built with
    ``run_workflows=False``, this process also runs its workflows, and workflows started from the viewer run
    here) and shut down when the viewer stops.

    Args:
        edda_app: the app whose database the viewer shows; the workflows it can start are those registered in
            this process.
        port: the port to listen on.
        host: the address to listen on; an address other than loopback needs ``token`` or ``username`` and
            ``password``, or ``insecure=True``.
        token: require this token (at least 16 characters): open ``http://host:port/?token=...`` once.
        username: with ``password``, require HTTP basic auth.
        password: the basic auth password (at least 8 characters).
        insecure: allow a non-loopback ``host`` without authentication (only behind something that authenticates).
        read_only: hide and refuse start, cancel and outbox actions.
        refresh_interval: seconds between the pages' live updates.
        title: the title in the header and the browser tab.
        reload: accepted for compatibility with edda-framework 0.16; must stay False.

    Raises:
        ConfigurationError: bad options, such as a non-loopback ``host`` without authentication.
    """
    if reload:
        raise ConfigurationError(
            "start_viewer(reload=True) is not supported: the viewer runs inside your app's process, which it cannot "
            "re-import. Restart the process to pick up code changes."
        )
    if not isinstance(edda_app, EddaApp):
        raise ConfigurationError(f"start_viewer() needs an EddaApp, got {type(edda_app).__name__}")
    options = ViewerOptions(
        host=host,
        port=port,
        auth=ViewerAuth(token=token, username=username, password=password),
        insecure=insecure,
        read_only=read_only,
        refresh_interval=refresh_interval,
        title=title,
    )
    serve(edda_app, options)


def serve(edda_app: EddaApp, options: ViewerOptions) -> None:
    """Register the pages and run the server until it stops (blocking)."""
    global _served
    if _served:
        raise RuntimeError("The viewer can be served once per process (NiceGUI keeps one application per process).")
    _served = True
    data = ViewerData(edda_app, read_only=options.read_only)
    viewer = Viewer(data, options, describe_database(edda_app.db_url), edda_app.db_url)
    register_pages(viewer)
    if options.auth.enabled:
        nicegui_app.add_middleware(AuthGate, auth=options.auth)
    nicegui_app.on_startup(edda_app.initialize)
    nicegui_app.on_shutdown(edda_app.shutdown)
    workflows = ", ".join(viewer.data.workflows()) or "none (import their modules with -m)"
    methods = [m for m, on in (("token", options.auth.token), ("basic auth", options.auth.username)) if on]
    auth = " and ".join(methods)
    # NiceGUI behaves differently when it sees pytest's variable (a fixed test port, no compression); the viewer
    # serves on the port it is given, also when a test or a script run by a test starts it.
    os.environ.pop("PYTEST_CURRENT_TEST", None)
    print(
        f"Edda viewer on http://{options.host}:{options.port} ({viewer.database}; workflows: {workflows}; "
        f"authentication: {auth or 'none'})",
        file=sys.stderr,
        flush=True,
    )
    ui.run(
        host=options.host,
        port=options.port,
        title=options.title,
        favicon="🪶",
        reload=False,
        show=False,
        show_welcome_message=False,
        uvicorn_logging_level="warning",
        access_log=False,
    )


async def _probe(app: EddaApp) -> None:
    await app.initialize()
    await app.shutdown()


def run_standalone(db_url: str, options: ViewerOptions) -> int:
    """The ``edda-viewer`` command: a client app (it runs no workflow) on ``db_url``, served until Ctrl-C.

    Returns:
        0 after a normal shutdown; 1 when the database cannot be opened (the message names its kind, host and
        name, never the URL).
    """
    app = EddaApp(service_name="edda-viewer", db_url=db_url, run_workflows=False)
    try:
        asyncio.run(_probe(app))
    except Exception as exc:
        print(
            f"edda-viewer: error: cannot open the database ({describe_database(db_url)}): "
            + redact(f"{type(exc).__name__}: {exc}", db_url),
            file=sys.stderr,
        )
        return 1
    serve(EddaApp(service_name="edda-viewer", db_url=db_url, run_workflows=False), options)
    return 0
