"""The seed documents' code examples, extracted by extract.py, each run through its harness (docs/seed-examples.md).

* The committed extraction must be what extract.py produces from the seeds now: a new, changed or removed example
  in the seeds fails here until extract.py is run again and the result reviewed.
* Every Python example has a harness and a status in catalog.py.
* Each Python example runs in a fresh interpreter, in a temporary directory, on SQLite; an example that names
  PostgreSQL also runs on a fresh PostgreSQL database when EDDA_TEST_POSTGRES_URL is set.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.databases import HOW_TO, temporary_database
from tests.seed_examples import extract

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
MANIFEST = json.loads((HERE / "manifest.json").read_text(encoding="utf-8"))
EXAMPLES = MANIFEST["examples"]
RERUN = "run `uv run python tests/seed_examples/extract.py`, review the diff and update catalog.py"
TIMEOUT = 90


def _need_seeds() -> None:
    if not extract.seeds_dir().is_dir():
        pytest.skip(f"the seed documents are not at {extract.seeds_dir()} (set EDDA_SEEDS_DIR to check extraction)")


def test_extraction_matches_the_seeds() -> None:
    _need_seeds()
    manifest, files = extract.build()
    committed = {e["id"]: e for e in EXAMPLES}
    fresh = {e["id"]: e for e in manifest["examples"]}
    missing = sorted(set(fresh) - set(committed))
    gone = sorted(set(committed) - set(fresh))
    assert not missing, f"the seeds hold examples missing from tests/seed_examples: {missing}; {RERUN}"
    assert not gone, f"extracted examples no longer in the seeds: {gone}; {RERUN}"
    changed = sorted(i for i in fresh if fresh[i] != committed[i])
    assert not changed, f"examples whose seed text or classification changed: {changed}; {RERUN}"
    assert extract.render_manifest(manifest) == extract.render_manifest(MANIFEST), f"manifest.json is stale; {RERUN}"
    for rel, content in files.items():
        path = HERE / rel
        assert path.is_file() and path.read_text(encoding="utf-8") == content, f"{rel} differs from the seed; {RERUN}"
    stray = sorted(p.name for p in (HERE / "examples").iterdir() if f"examples/{p.name}" not in files)
    assert not stray, f"files in examples/ that no seed block produced: {stray}; {RERUN}"


def test_every_example_has_a_decision() -> None:
    undecided = [e["id"] for e in EXAMPLES if e["status"].startswith("unassigned")]
    assert not undecided, f"examples without a harness or status in catalog.py: {undecided}"
    assert not MANIFEST["catalog_entries_without_example"], "catalog.py names examples the seeds no longer have"
    for e in EXAMPLES:
        status = e["status"]
        if e["lang"] == "python":
            assert status == "run" or status.startswith("pending: "), f"{e['id']}: unknown status {status!r}"
        else:
            assert status == "recorded", f"{e['id']}: non-Python blocks are recorded, not run"


def _runs() -> list:
    params = []
    for e in EXAMPLES:
        if e["lang"] != "python":
            continue
        for backend in e["backends"]:
            marks = [pytest.mark.postgres] if backend == "postgresql" else []
            params.append(pytest.param(e, backend, id=f"{e['id']}[{backend}]", marks=marks))
    return params


@pytest.mark.timeout(TIMEOUT + 60)
@pytest.mark.parametrize(("example", "backend"), _runs())
async def test_example_runs(example: dict, backend: str, tmp_path: Path) -> None:
    if example["status"] != "run":
        pytest.skip(f"{example['id']}: {example['status']}")
    absent = [
        m
        for m in example["requires"]
        if importlib.util.find_spec(m.split(".")[0]) is None or importlib.util.find_spec(m) is None
    ]
    if absent:
        pytest.skip(
            f"{example['id']} needs {', '.join(absent)}, which the workspace's dev group does not install "
            "(add protobuf to [dependency-groups] dev in pyproject.toml to run it)"
        )
    if backend == "postgresql" and not os.environ.get("EDDA_TEST_POSTGRES_URL"):
        pytest.skip(HOW_TO["postgresql"])
    async with temporary_database(backend, tmp_path) as db_url:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            "PYTHONWARNINGS": "error",
            "EDDA_SEED_BACKEND": backend,
            "EDDA_SEED_DB_URL": db_url,
        }
        cmd = [sys.executable, "-m", "tests.seed_examples.harnesses.run", example["id"]]
        try:
            proc = await asyncio.to_thread(
                subprocess.run, cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=TIMEOUT
            )
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"{example['id']} did not finish in {TIMEOUT}s:\n{exc.stdout}\n{exc.stderr}")
    report = f"{example['id']} ({example['file']}, from {example['source']} block {example['block']}):\n"
    report += f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
    assert proc.returncode == 0, report
    assert "SEED-EXAMPLE-OK" in proc.stdout, report
