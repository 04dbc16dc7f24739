"""edda-asgi: receive CloudEvents over HTTP for Edda workflows, from ASGI servers (uvicorn, hypercorn), frameworks
(FastAPI, Starlette: ``api.mount("/workflows", edda_app)``) and WSGI servers (gunicorn, uWSGI).

    from edda import EddaApp
    from edda_asgi import create_asgi_app

    edda_app = EddaApp(db_url="sqlite:///workflow.db")
    application = create_asgi_app(edda_app, cancel_token="s3cret")   # uvicorn module:application
"""

from __future__ import annotations

from edda_asgi._app import EddaASGIApp, create_asgi_app
from edda_asgi._wsgi import create_wsgi_app

__version__ = "1.0.0"

__all__ = ["EddaASGIApp", "create_asgi_app", "create_wsgi_app"]
