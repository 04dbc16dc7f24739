"""The viewer beside an app, in its process (``start_viewer``), for the viewer's tests.

Usage: ``python viewer_demo_embedded.py PORT`` with EDDA_DB_URL, and optionally VIEWER_USER / VIEWER_PASSWORD.
"""

from __future__ import annotations

import os
import sys

import viewer_demo_workflows  # noqa: F401  (registers the workflows)

from edda import EddaApp
from edda_viewer import start_viewer

if __name__ == "__main__":
    app = EddaApp(service_name="viewer-embedded", db_url=os.environ["EDDA_DB_URL"], recovery_interval=0.2)
    start_viewer(
        app,
        int(sys.argv[1]),
        username=os.environ.get("VIEWER_USER"),
        password=os.environ.get("VIEWER_PASSWORD"),
        refresh_interval=0.5,
    )
