"""The reference storage satisfies the storage SPI, checked by pyright and at runtime.

pyright analyses this very module: the assignments below are the static conformance check (an implementation whose
signatures drift from :mod:`edda.storage.protocol` makes them type errors).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from contextlib import AbstractAsyncContextManager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import edda.storage
import edda.storage.protocol
from edda.storage import HistoryBatchReader, Storage, WakeAnnouncer, WakeSource
from edda.storage.memory import InMemoryStorage
from edda.storage.records import Fence, StepCommit

_: Storage = InMemoryStorage()
_batch: HistoryBatchReader = InMemoryStorage()

ROLES = (
    "ChannelStore",
    "HistoryStore",
    "InstanceStore",
    "LeaseStore",
    "OutboxStore",
    "StepStore",
    "Storage",
    "Transaction",
    "TransactionManager",
    "WorkerRegistry",
)
OPTIONAL = ("ClaimsByWorkflow", "HistoryBatchReader", "InstanceBatchReader", "WakeAnnouncer", "WakeSource")


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


def test_pyright_accepts_in_memory_storage_as_storage(tmp_path: Path) -> None:
    report = run_pyright(Path(__file__), tmp_path)
    errors = [
        f"line {d['range']['start']['line'] + 1}: {d['message']}"
        for d in report["generalDiagnostics"]
        if d["severity"] == "error"
    ]
    assert report["summary"]["filesAnalyzed"] > 0
    assert report["summary"]["errorCount"] == 0, "\n".join(errors)


def test_in_memory_storage_is_a_storage_at_runtime() -> None:
    storage = InMemoryStorage()
    assert isinstance(storage, Storage)
    assert isinstance(storage, HistoryBatchReader)
    assert not isinstance(storage, WakeSource) and not isinstance(storage, WakeAnnouncer)  # nothing to wake across


def test_roles_and_optional_capabilities_are_exported() -> None:
    assert set(edda.storage.protocol.__all__) == {*ROLES, *OPTIONAL}
    assert set(edda.storage.protocol.__all__) <= set(edda.storage.__all__)
    for name in OPTIONAL:  # runtime_checkable (isinstance would raise TypeError otherwise): the engine checks so
        assert not isinstance(object(), getattr(edda.storage.protocol, name))


class _ForeignTransaction:
    """A transaction of some other storage: satisfies ``Transaction``, but InMemoryStorage cannot write in it."""

    @property
    def session(self) -> Any:
        return None

    def savepoint(self) -> AbstractAsyncContextManager[None]:
        return nullcontext()

    async def commit(self) -> None:
        return None

    async def rollback(self) -> None:
        return None


async def test_commit_step_rejects_a_foreign_transaction() -> None:
    storage = InMemoryStorage()
    commit = StepCommit(fence=Fence("i-1", "w", 1), now=datetime(2026, 1, 1, tzinfo=UTC))
    with pytest.raises(TypeError, match=r"tx must be an InMemoryStorage transaction .* got _ForeignTransaction"):
        await storage.commit_step(commit, tx=_ForeignTransaction())
