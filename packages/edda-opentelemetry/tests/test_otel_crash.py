"""A SIGKILLed process, a fresh one resuming the workflow on the same SQLite file: the resumed run continues the
trace the first process started (same trace id; its workflow span has the same parent as the runs before)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

WORKER = Path(__file__).with_name("otel_crash_worker.py")


def _spans(path: Path, process: str) -> dict[str, list[dict[str, Any]]]:
    by_name: dict[str, list[dict[str, Any]]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record["process"] == process:
            by_name.setdefault(record["name"], []).append(record)
    return by_name


def _run_until_killed(args: list[str], marker: Path) -> None:
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            if proc.poll() is not None:
                raise AssertionError(f"the worker exited before reaching the risky activity:\n{proc.stderr.read()}")
            assert time.monotonic() < deadline, "the worker never reached the risky activity"
            time.sleep(0.01)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.parametrize("pause", ["pause", "no-pause"], ids=["killed-after-a-wait", "killed-in-the-first-activity"])
def test_the_run_resumed_in_a_new_process_continues_the_trace(tmp_path: Path, pause: str) -> None:
    pytest.importorskip(
        "edda_storage_sql", reason='the crash test runs on SQLite: pip install "edda-storage-sql[sqlite]"'
    )
    db, spans_file = tmp_path / "crash.db", tmp_path / "spans.jsonl"
    args = [str(db), str(spans_file), str(tmp_path), pause]
    worker = [sys.executable, str(WORKER)]
    _run_until_killed([*worker, "start", *args], tmp_path / "in-risky")
    resumed = subprocess.run([*worker, "resume", *args], capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout.strip().splitlines()[-1]) == (20 if pause == "pause" else 10)

    killed, fresh = _spans(spans_file, "start"), _spans(spans_file, "resume")
    [caller], [start] = killed["POST /flows"], killed["start_workflow:otel_crash_flow"]
    trace_id = caller["trace_id"]
    assert start["parent_id"] == caller["span_id"] and start["trace_id"] == trace_id
    assert "activity:otel_crash_risky" not in killed  # it was running when the process died
    # The new process makes no start span of its own: it reads the trace context from the instance's history.
    assert "start_workflow:otel_crash_flow" not in fresh
    [run] = fresh["workflow:otel_crash_flow"]
    [risky] = fresh["activity:otel_crash_risky"]
    assert run["trace_id"] == risky["trace_id"] == trace_id
    assert run["parent_id"] == start["span_id"]
    assert risky["parent_id"] == run["span_id"]
    assert run["attributes"]["edda.workflow.resumed"] is True
    assert run["attributes"]["edda.workflow.status"] == "completed"
    if pause == "pause":  # the killed process's finished run hangs off the same start span
        [first] = killed["workflow:otel_crash_flow"]
        [prepare] = killed["activity:otel_crash_prepare"]
        assert first["parent_id"] == run["parent_id"] and first["trace_id"] == trace_id
        assert first["attributes"]["edda.workflow.run.outcome"] == "suspended"
        assert prepare["parent_id"] == first["span_id"]
        assert run["attributes"]["edda.workflow.run.replayed_activities"] == 1
    else:
        assert "workflow:otel_crash_flow" not in killed  # its only run died with it
