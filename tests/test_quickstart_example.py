"""The README's first command, `uv run python examples/quickstart.py`, on the embedded SQLite default."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k != "EDDA_DB_URL"}  # the default: sqlite:///quickstart.db
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py")],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=90,
        env={**env, "PYTHONWARNINGS": "error"},
    )
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def test_quickstart_runs_the_saga_end_to_end(tmp_path: Path) -> None:
    out = _run(tmp_path)
    assert (tmp_path / "quickstart.db").exists()  # the embedded SQLite file default
    assert "✓ shipped" in out and "result: {'order_id'" in out
    # the declined order undoes its two reservations, newest first
    assert out.index("↩ released chair") < out.index("↩ released desk")
    assert "failed as expected: TerminalError" in out
    assert "same instance: True" in out
    assert "ended with status 'failed'" in out
    # a second run on the same database file works too (new order ids, the old instances stay)
    assert "same instance: True" in _run(tmp_path)
