"""``SQLAlchemyStorage`` satisfies the storage SPI and its optional capabilities, checked by pyright and at runtime.

pyright analyses this very module: the assignments below are the static conformance check. Constructing a storage
does no I/O (nothing is opened before ``initialize()``), so they are safe at import time.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from edda.storage import HistoryBatchReader, Storage, WakeAnnouncer, WakeSource
from edda.storage.memory import InMemoryStorage
from edda.storage.records import Fence, StepCommit
from edda_storage_sql import SQLAlchemyStorage

_: Storage = SQLAlchemyStorage("sqlite:///x.db")
_batch: HistoryBatchReader = SQLAlchemyStorage("sqlite:///x.db")
_source: WakeSource = SQLAlchemyStorage("sqlite:///x.db")
_announcer: WakeAnnouncer = SQLAlchemyStorage("sqlite:///x.db")

URLS = ("sqlite:///{tmp}/x.db", "postgresql://edda:secret@127.0.0.1:1/edda", "mysql://edda:secret@127.0.0.1:1/edda")


def run_pyright(path: Path, tmp_path: Path) -> dict[str, Any]:
    """pyright's JSON report on ``path`` in standard mode, with this interpreter's packages."""
    pyright = shutil.which("pyright", path=str(Path(sys.executable).parent)) or shutil.which("pyright")
    if pyright is None:
        pytest.skip("pyright is not installed in this environment (pip install pyright): the static SPI check needs it")
    config = tmp_path / "pyrightconfig.json"
    config.write_text(json.dumps({"typeCheckingMode": "standard", "pythonVersion": "3.11"}))
    env = {**os.environ, "PYRIGHT_PYTHON_IGNORE_WARNINGS": "1"}  # no "new version available" look-up
    proc = subprocess.run(
        [pyright, "--outputjson", "--project", str(config), "--pythonpath", sys.executable, str(path)],
        capture_output=True,
        text=True,
        timeout=100,
        env=env,
        check=False,
    )
    try:
        return json.loads(proc.stdout[proc.stdout.index("{") :])
    except ValueError:
        pytest.fail(f"pyright gave no JSON report (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")


def test_pyright_accepts_sqlalchemy_storage_as_storage(tmp_path: Path) -> None:
    report = run_pyright(Path(__file__), tmp_path)
    errors = [
        f"line {d['range']['start']['line'] + 1}: {d['message']}"
        for d in report["generalDiagnostics"]
        if d["severity"] == "error"
    ]
    assert report["summary"]["filesAnalyzed"] > 0
    assert report["summary"]["errorCount"] == 0, "\n".join(errors)


@pytest.mark.parametrize("url", URLS)
def test_constructing_does_no_io(url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("constructing a storage must not open a connection")

    monkeypatch.setattr(sqlite3, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    storage = SQLAlchemyStorage(url.format(tmp=tmp_path))
    assert list(tmp_path.iterdir()) == []  # no database file either
    assert isinstance(storage, Storage)
    assert isinstance(storage, HistoryBatchReader)
    assert isinstance(storage, WakeSource) and isinstance(storage, WakeAnnouncer)


async def test_commit_step_rejects_a_foreign_transaction(tmp_path: Path) -> None:
    storage = SQLAlchemyStorage(f"sqlite:///{tmp_path}/x.db")
    await storage.initialize()
    try:
        commit = StepCommit(fence=Fence("i-1", "w", 1), now=datetime(2026, 1, 1, tzinfo=UTC))
        with pytest.raises(TypeError, match=r"tx must be a SQLTransaction .* got _MemoryTransaction"):
            await storage.commit_step(commit, tx=InMemoryStorage().begin())
        with pytest.raises(TypeError, match=r"tx must be an InMemoryStorage transaction .* got SQLTransaction"):
            await InMemoryStorage().commit_step(commit, tx=storage.begin())
    finally:
        await storage.close()
