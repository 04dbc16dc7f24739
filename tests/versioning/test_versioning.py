"""Deploying changed workflow code under instances in flight, each deploy a real process on the same database:
``edda replay`` finds the instances a change would strand, ``ctx.patched`` keeps old instances on the old branch
and new ones on the new, an instance that failed on the divergence is resumed once the code is fixed, and
``ctx.deprecate_patch`` refuses instances that still need the deleted branch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.integration.databases import temporary_database
from tests.versioning.versions import VERSIONS

ROOT = Path(__file__).resolve().parents[2]


class Deploys:
    """Runs processes with one version of the code or another, and the ``edda`` command, on one database."""

    def __init__(self, db: str, tmp: Path) -> None:
        self.db = db
        self.effects = tmp / "effects.txt"
        self.folders = {}
        for name, code in VERSIONS.items():
            folder = tmp / name
            folder.mkdir()
            (folder / "flows.py").write_text(code)
            self.folders[name] = folder

    def env(self, version: str) -> dict[str, str]:
        path = os.pathsep.join([str(self.folders[version]), str(ROOT)])
        return os.environ | {"PYTHONPATH": path, "EDDA_TEST_DB_URL": self.db, "EDDA_TEST_EFFECTS": str(self.effects)}

    def worker(self, version: str, command: str, *orders: str) -> dict[str, list[object]]:
        done = subprocess.run(
            [sys.executable, "-m", "tests.versioning.versioning_worker", command, *orders],
            cwd=ROOT, env=self.env(version), capture_output=True, text=True, timeout=90,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout) if done.stdout.strip() else {}

    def edda(self, version: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "edda", *args], cwd=self.folders[version], env=self.env(version),
            capture_output=True, text=True, timeout=90,
        )  # fmt: skip

    def counts(self) -> Counter[str]:
        return Counter(self.effects.read_text().splitlines())


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
async def deploys(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Deploys]:
    async with temporary_database(request.param, tmp_path) as db:
        yield Deploys(db, tmp_path)


@pytest.mark.timeout(300)
async def test_a_change_behind_ctx_patched_strands_no_one(deploys: Deploys, tmp_path: Path) -> None:
    deploys.worker("v1", "start", "old-1", "old-2")

    # The careless change: the replayer says which instances it would strand, and where.
    broken = deploys.edda("v2-broken", "replay", "--db", deploys.db, "-m", "flows", "--json")
    assert broken.returncode == 1, broken.stderr
    report = json.loads(broken.stdout)
    assert report["ok"] is False
    assert {(r["instance_id"], r["outcome"], r["position"]) for r in report["results"]} == {
        ("old-1", "diverged", 2),
        ("old-2", "diverged", 2),
    }
    assert "charge" in report["results"][0]["recorded"] and "charge_with_tax" in report["results"][0]["requested"]
    table = deploys.edda("v2-broken", "replay", "--db", deploys.db, "-m", "flows")
    assert "versioned_order  2          0      2" in table.stdout and "would be stranded" in table.stdout

    # A golden history, exported once, replays the same way from a file.
    exported = deploys.edda("v1", "history", "old-1", "--json", "--db", deploys.db)
    case = tmp_path / "case.json"
    case.write_text(exported.stdout)
    assert deploys.edda("v2-broken", "replay", str(case), "-m", "flows").returncode == 1
    assert deploys.edda("v2-patched", "replay", str(case), "-m", "flows").returncode == 0

    # The patched change replays every in-flight instance; nothing was executed or written by the replays.
    before = deploys.effects.read_text()
    clean = deploys.edda("v2-patched", "replay", "--db", deploys.db, "-m", "flows")
    assert clean.returncode == 0 and "OK: every history replays" in clean.stdout
    assert deploys.effects.read_text() == before

    deploys.worker("v2-patched", "start", "new-1")
    finished = deploys.worker("v2-patched", "ship", "old-1", "old-2", "new-1")
    assert finished == {
        "old-1": ["completed", "old-1:100"],  # the old branch, as recorded
        "old-2": ["completed", "old-2:100"],
        "new-1": ["completed", "new-1:119"],  # the new branch
    }
    assert deploys.counts() == Counter(
        {"reserve old-1": 1, "charge old-1": 1, "notify old-1 100": 1, "reserve old-2": 1, "charge old-2": 1,
         "notify old-2 100": 1, "reserve new-1": 1, "charge_with_tax new-1": 1, "notify new-1 119": 1}
    )  # fmt: skip


@pytest.mark.timeout(300)
async def test_a_diverged_instance_is_resumed_once_the_code_is_fixed(deploys: Deploys) -> None:
    deploys.worker("v1", "start", "stuck")
    failed = deploys.worker("v2-broken", "ship", "stuck")
    assert failed == {"stuck": ["failed", "NonDeterminismError"]}
    shown = deploys.edda("v2-broken", "show", "stuck", "--db", deploys.db)
    assert "NonDeterminismError" in shown.stdout

    resumed = deploys.edda("v2-patched", "resume", "stuck", "--db", deploys.db)
    assert resumed.returncode == 0, resumed.stderr
    finished = deploys.worker("v2-patched", "ship", "stuck")  # its event was consumed before it failed: not resent
    assert finished == {"stuck": ["completed", "stuck:100"]}
    assert deploys.counts() == Counter({"reserve stuck": 1, "charge stuck": 1, "notify stuck 100": 1})
    again = deploys.edda("v2-patched", "resume", "stuck", "--db", deploys.db)
    assert again.returncode == 1 and "completed" in again.stderr


@pytest.mark.timeout(300)
async def test_deprecating_a_patch_refuses_instances_that_need_the_old_branch(deploys: Deploys) -> None:
    deploys.worker("v1", "start", "legacy")
    deploys.worker("v2-patched", "start", "modern")
    report = json.loads(deploys.edda("v3", "replay", "--db", deploys.db, "-m", "flows", "--json").stdout)
    outcomes = {r["instance_id"]: (r["outcome"], r["requested"]) for r in report["results"]}
    assert outcomes == {"legacy": ("diverged", "ctx.deprecate_patch('tax')"), "modern": ("ok", None)}
    finished = deploys.worker("v3", "ship", "modern")
    assert finished == {"modern": ["completed", "modern:119"]}
