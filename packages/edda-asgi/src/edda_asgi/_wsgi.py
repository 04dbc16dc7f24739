"""WSGI: the ASGI app behind a2wsgi, for gunicorn, uWSGI and other WSGI servers.

a2wsgi runs the ASGI app on an event loop in a background thread of each WSGI worker process; the EddaApp and its
background work (timers, recovery, the outbox relayer) live on that loop. WSGI has no lifespan, so the first request
initializes the EddaApp, and the process's exit shuts it down.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import threading
from typing import Any

from a2wsgi import ASGIMiddleware

from edda_asgi._app import create_asgi_app

__all__ = ["create_wsgi_app"]

logger = logging.getLogger("edda.asgi")


def create_wsgi_app(edda_app: Any, **options: Any) -> ASGIMiddleware:
    """Serve an :class:`edda.EddaApp` from a WSGI server.

    Args:
        edda_app: the :class:`edda.EddaApp` (not yet initialized: it is initialized on the WSGI worker's event loop).
        **options: the keyword options of :func:`edda_asgi.create_asgi_app` (limits, cancel protection).

    Returns:
        A WSGI application (``app(environ, start_response)``). Its ``loop`` attribute is the event loop the EddaApp
        runs on: use ``asyncio.run_coroutine_threadsafe(coro, wsgi_app.loop)`` to call the EddaApp from WSGI code.

    Example::

        from edda import EddaApp
        from edda.wsgi import create_wsgi_app

        application = EddaApp(db_url="sqlite:///workflow.db")
        wsgi_application = create_wsgi_app(application)   # gunicorn module:wsgi_application
    """
    asgi_app = create_asgi_app(edda_app, **options)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="edda-wsgi-loop", daemon=True)
    thread.start()
    atexit.register(_shutdown, edda_app, loop)
    return ASGIMiddleware(asgi_app, loop=loop)  # pyright: ignore[reportArgumentType]


def _shutdown(edda_app: Any, loop: asyncio.AbstractEventLoop) -> None:
    """Release the app's leases and close its storage when the worker process exits."""
    if loop.is_closed() or not loop.is_running():
        return
    try:
        asyncio.run_coroutine_threadsafe(edda_app.shutdown(), loop).result(timeout=10)
    except Exception:
        logger.warning("Shutting down Edda at exit failed", exc_info=True)
    loop.call_soon_threadsafe(loop.stop)
