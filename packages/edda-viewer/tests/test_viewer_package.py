"""The package's surface: its public names, what its command line module loads, start_viewer's refusals, and the
issue's "done when": the viewer shows the instances a quickstart run left behind."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from viewer_test_support import REPO, Process, child_env, free_port, wait_until_serving

import edda_viewer
from edda import EddaApp
from edda.exceptions import ConfigurationError
from edda_viewer import ViewerAuth, start_viewer


def test_the_public_names_are_exactly_all() -> None:
    assert edda_viewer.__all__ == ["ViewerAuth", "start_viewer"]
    assert edda_viewer.start_viewer is start_viewer and edda_viewer.ViewerAuth is ViewerAuth
    with pytest.raises(AttributeError):
        edda_viewer.no_such_name


def test_the_command_line_module_loads_no_web_framework() -> None:
    code = (
        "import json, sys\nbefore = set(sys.modules)\nimport edda_viewer.cli\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in set(sys.modules) - before})))\n"
    )
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert {"nicegui", "fastapi", "starlette", "pydantic", "uvicorn"}.isdisjoint(loaded), loaded


def test_start_viewer_refuses_bad_options_before_serving_anything() -> None:
    app = EddaApp(service_name="refusals", db_url="memory://")
    with pytest.raises(ConfigurationError, match="Refusing to listen on 0.0.0.0"):
        start_viewer(app, host="0.0.0.0")
    with pytest.raises(ConfigurationError, match=r"reload=True\) is not supported"):
        start_viewer(app, reload=True)
    with pytest.raises(ConfigurationError, match="needs an EddaApp, got str"):
        start_viewer("sqlite:///app.db")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="at least 16 characters"):
        start_viewer(app, token="short")


def test_the_viewer_shows_what_the_quickstart_left_behind(tmp_path: Path) -> None:
    (tmp_path / "examples").mkdir()
    shutil.copy(REPO / "examples" / "quickstart.py", tmp_path / "examples" / "quickstart.py")
    env = child_env()
    run = subprocess.run(
        [sys.executable, "examples/quickstart.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=90
    )
    assert run.returncode == 0, run.stderr
    first, second = sorted(set(re.findall(r"ORD-[0-9a-f]{6}-[AB]", run.stdout)))
    port = free_port()
    args = [sys.executable, "-m", "edda_viewer.cli", "--db", "sqlite:///quickstart.db", "-m", "examples.quickstart"]
    viewer = Process([*args, "--port", str(port)], env=env, cwd=tmp_path, log=tmp_path / "viewer.log")
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_serving(viewer, base)
        listing = httpx.get(base + "/", timeout=30)
        assert listing.status_code == 200 and first in listing.text and second in listing.text
        detail = httpx.get(f"{base}/workflow/{second}", timeout=30)
        assert detail.status_code == 200
        assert "payment of 5000.0 declined" in detail.text and "release_inventory" in detail.text
        assert "workflows: order_workflow" in viewer.output
    finally:
        viewer.stop()
