"""Smoke runs of the scale benchmarks (W7-W10) and the user-view variants of W3/W4, so that they cannot rot.

Each test runs the real runner (``python -m benchmarks run ... --scale 0.01 --runs 1``) in a subprocess, on real
databases: W7's resume SIGKILLs a worker at its last step and a restarted process completes the workflow; W9 runs
two and four worker processes on one server. PostgreSQL and MySQL runs need ``EDDA_TEST_POSTGRES_URL`` /
``EDDA_TEST_MYSQL_URL`` (the runner creates and drops its own ``bench_*`` databases on those servers).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
HOW_TO = {
    "postgres": "set EDDA_TEST_POSTGRES_URL=postgresql://user@host:5432/db to run the PostgreSQL benchmark smoke runs",
    "mysql": "set EDDA_TEST_MYSQL_URL=mysql://user@host:3306/db to run the MySQL benchmark smoke runs",
}


def _run(tmp_path: Path, db: str, workloads: str) -> list[dict[str, Any]]:
    env = dict(os.environ)
    for kind, test_env, bench_env in (
        ("postgres", "EDDA_TEST_POSTGRES_URL", "EDDA_BENCH_PG_URL"),
        ("mysql", "EDDA_TEST_MYSQL_URL", "EDDA_BENCH_MYSQL_URL"),
    ):
        if db == kind:
            if not os.environ.get(test_env):
                pytest.skip(HOW_TO[kind])
            env[bench_env] = os.environ[test_env]
    out = tmp_path / "results.json"
    command = [sys.executable, "-m", "benchmarks", "run", "--db", db, "--workloads", workloads, "--systems", "edda"]
    command += ["--runs", "1", "--scale", "0.01", "--out", str(out), "--tmp-dir", str(tmp_path)]
    completed = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=400, check=False)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    series = json.loads(out.read_text())["series"]
    failed = [(s["workload"], s["variant"], s["errors"]) for s in series if s["status"] != "ok"]
    assert not failed, failed
    return series


def _metrics(series: list[dict[str, Any]], workload: str, variant: str) -> dict[str, Any]:
    for one in series:
        if one["workload"] == workload and one["variant"] == variant:
            return one["records"][0]["metrics"]
    raise AssertionError(f"no {workload} {variant!r} in {[(s['workload'], s['variant']) for s in series]}")


def _check_w7(series: list[dict[str, Any]]) -> None:
    for variant, steps in (("N=100", 2), ("N=1,000", 10), ("N=10,000", 100), ("N=10,000, recur every 1,000", 100)):
        m = _metrics(series, "W7", variant)
        assert m["steps"] == steps
        assert m["total_s"] > 0 and m["step_ms"] == pytest.approx(m["total_s"] / steps * 1e3)
        assert m["resume_timeout"] is False
        assert 0 < m["resume_s"] < m["kill_to_done_s"]  # the restarted worker's setup began after the kill
        assert m["rss_end_mib"] > 0


def _check_w10(series: list[dict[str, Any]], db: str) -> None:
    for size, label in ((1024, "1 KB"), (100 * 1024, "100 KB"), (1024 * 1024, "1 MB")):
        for encoding in ("json", "bytes"):
            m = _metrics(series, "W10", f"{label} {encoding}")
            assert m["completed"] == m["workflows"] == 4 and m["failed"] == 0
            assert m["size"] == size
            if size >= 100 * 1024:  # random payloads: what is stored cannot be smaller than the payload
                assert m["stored_per_wf"] >= size * 0.9
                written = [m["written_per_wf"], m["written_per_event"]]
                if db == "postgres":
                    # Bytes written are read from the server's WAL, whose segments a checkpoint may have recycled
                    # meanwhile (another test's DROP DATABASE forces one): then the runner reports none.
                    written = [w for w in written if w is not None]
                assert all(w >= size * 0.9 for w in written), written


@pytest.mark.timeout(300)
def test_scale_workloads_on_sqlite(tmp_path: Path) -> None:
    series = _run(tmp_path, "sqlite", "W7,W8,W10")
    _check_w7(series)
    w8 = _metrics(series, "W8", "100,000 waiting")
    assert w8["workflows"] == 1000 and w8["parked"] == 1000 and w8["completed"] == w8["waiters"] == 900
    assert not w8["park_timeout"] and not w8["drain_timeout"] and w8["failed"] == 0
    assert w8["db_bytes_per_instance"] > 0 and w8["timer_p99_ms"] >= 0
    _check_w10(series, "sqlite")


@pytest.mark.postgres
@pytest.mark.timeout(300)
def test_scale_workloads_on_postgresql(tmp_path: Path) -> None:
    # W7 runs on SQLite only here (its kill and resume are the same code on every database; the crash tests kill
    # workers on PostgreSQL and MySQL): the smoke runs are what CI can afford.
    series = _run(tmp_path, "postgres", "W9,W10")
    _check_w10(series, "postgres")
    for processes in (1, 2, 4):
        m = _metrics(series, "W9", f"{processes} process{'es' if processes > 1 else ''}")
        assert m["completed"] == m["workflows"] == 20 and m["processes"] == processes
        assert m["cross_process"] == 0 and m["duplicates"] == 0
        assert m["commits_per_s"] > 0  # counted in the WAL of this database


@pytest.mark.mysql
@pytest.mark.timeout(300)
def test_scale_out_on_mysql(tmp_path: Path) -> None:
    series = _run(tmp_path, "mysql", "W9")
    for processes in (1, 2, 4):
        m = _metrics(series, "W9", f"{processes} process{'es' if processes > 1 else ''}")
        assert m["completed"] == 20 and m["cross_process"] == 0 and m["duplicates"] == 0


@pytest.mark.postgres
@pytest.mark.timeout(300)
def test_user_view_variants_of_w3_and_w4(tmp_path: Path) -> None:
    series = _run(tmp_path, "postgres", "W3,W4")
    http = _metrics(series, "W3", "HTTP, same process")
    assert http["completed"] == 2 and http["http_p50_ms"] > 0
    user = _metrics(series, "W4", "user view")
    assert user["completed"] == 5 and user["failed"] == 0 and user["min_ms"] >= 0
