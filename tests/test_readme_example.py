"""The root README's first code sample runs as pasted: saved as a file and run with ``python``, in a fresh directory.

``test_docs_examples.py`` runs the blocks of ``docs/``; the README is not among them, so this covers its first sample.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIRST_PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def first_sample() -> str:
    found = FIRST_PYTHON_BLOCK.search((ROOT / "README.md").read_text())
    assert found, "README.md has no ```python block"
    return found.group(1)


def test_the_readme_first_sample_runs_as_pasted(tmp_path: Path) -> None:
    script = tmp_path / "readme_sample.py"
    script.write_text(first_sample())
    for run in (1, 2):  # a second run on the same database file works too
        proc = subprocess.run(
            [sys.executable, str(script)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=90,
            env={**os.environ, "PYTHONWARNINGS": "error"},
        )
        assert proc.returncode == 0, f"run {run}:\n{proc.stdout}\n{proc.stderr}"
        assert proc.stdout.strip() == "{'order_id': 'ORD-1', 'transaction_id': 'TX-ORD-1'}", proc.stdout
    assert (tmp_path / "workflow.db").exists()  # the sample's own SQLite file, in the working directory
