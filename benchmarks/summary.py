"""Medians across runs, the results document's metadata, and one-line progress messages."""

from __future__ import annotations

import os
import platform
import sys
import tempfile
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.databases import filesystem_of
from benchmarks.model import Cell, Options, RunRecord
from benchmarks.scaledetail import SCALE_DETAILS
from benchmarks.spec import VARIANT_WORKLOADS, WORKLOADS
from benchmarks.stats import median

_MEDIAN_METRICS = (
    "throughput",
    "p50_ms",
    "p99_ms",
    "max_ms",
    "min_ms",
    "mean_ms",
    "wall_s",
    "start_phase_s",
    "completed",
    "started",
    "parked",
    "recovery_s",
    "startup_s",
    "rss_idle_mib",
    "rss_parked_mib",
    "rss_delta_mib",
    "park_s",
    "drain_s",
    "delivery_s",
    # W3 HTTP, W7-W10
    "http_p50_ms",
    "steps",
    "total_s",
    "step_ms",
    "first_ms",
    "last_ms",
    "end_over_start",
    "rss_end_mib",
    "resume_s",
    "kill_to_done_s",
    "resume_rss_mib",
    "resume_peak_mib",
    "waiters",
    "nappers",
    "start_s",
    "park_rate",
    "db_bytes_per_instance",
    "timer_p50_ms",
    "timer_p99_ms",
    "rss_peak_mib",
    "processes",
    "commits_per_s",
    "worker_cores",
    "server_cores",
    "machine_busy",
    "size",
    "events_per_s",
    "written_per_wf",
    "stored_per_wf",
    "written_per_event",
    "stored_per_event",
)
_MEDIAN_RECORD_FIELDS = ("commits_per_activity", "xacts_per_activity")
# How many ok runs hit a bound (W3, W6, W7, W8).
FLAGS = ("budget_hit", "park_timeout", "park_stalled", "drain_timeout", "resume_timeout")
_SUMMED = ("cross_process", "duplicates")  # W9's ownership violations, over all runs


def series(cell: Cell, records: list[RunRecord]) -> dict[str, Any]:
    ok = [r for r in records if r.status == "ok"]
    versions = [r.info["version"] for r in records if r.info.get("version")]
    summary: dict[str, Any] = {}
    headline = WORKLOADS[cell.workload].headline
    if ok:
        for key in _MEDIAN_METRICS:
            values = [r.metrics[key] for r in ok if isinstance(r.metrics.get(key), int | float)]
            if values:
                summary[key] = median(values)
        for key in _MEDIAN_RECORD_FIELDS:
            values = [getattr(r, key) for r in ok if getattr(r, key) is not None]
            if values:
                summary[key] = median(values)
        for key in _SUMMED:
            if any(key in r.metrics for r in ok):
                summary[key] = sum(int(r.metrics.get(key) or 0) for r in ok)
        summary["failed"] = sum(int(r.metrics.get("failed") or 0) for r in ok)
        summary["workflows"] = sum(int(r.metrics.get("workflows") or 0) for r in ok)
        for flag in FLAGS:
            if any(flag in r.metrics for r in ok):
                summary[flag] = sum(1 for r in ok if r.metrics.get(flag))
        values = [r.metrics[headline] for r in ok if isinstance(r.metrics.get(headline), int | float)]
        if values:
            summary[f"{headline}_min"] = min(values)
            summary[f"{headline}_max"] = max(values)
    failures = [r.status for r in records if r.status != "ok"]
    status = "ok" if ok else (max(set(failures), key=failures.count) if failures else "not run")
    return {
        **asdict(cell),
        "version": versions[0] if versions else "",
        "status": status,
        "ok_runs": len(ok),
        "runs": len(records),
        "median": summary,
        "errors": sorted({r.error for r in records if r.error}),
        "records": [asdict(r) for r in records],
    }


def progress(done: int, total: int, run: int, runs: int, cell: Cell, record: RunRecord) -> str:
    waits = cell.workload in VARIANT_WORKLOADS
    name = cell.system if waits else cell.variant or cell.system
    head = f"[{done:>3}/{total}] run {run}/{runs}  {cell.workload:<5} {cell.db:<8} {name:<22}"
    if waits:
        head += f" {cell.variant:<25}"
    if record.status != "ok":
        return f"{head} {record.status.upper()}: {' '.join(record.error.split())[:300]}"
    metrics = record.metrics
    spec = WORKLOADS[cell.workload]
    if waits:
        text = f"{head} {detail(cell.workload, metrics)}"
    else:
        text = f"{head} {metrics[spec.headline]:>9.1f} {spec.unit}"
    if "p50_ms" in metrics and not waits:
        text += f"  p50 {metrics['p50_ms']:.1f} ms  p99 {metrics['p99_ms']:.1f} ms"
    per = "iter" if cell.workload == "FLOOR" else "act"
    if record.commits_per_activity is not None:
        text += f"  {record.commits_per_activity:.2f} commits/{per}"
    if record.xacts_per_activity is not None:
        text += f"  {record.xacts_per_activity:.2f} xacts/{per}"
    if metrics.get("failed"):
        first = " ".join(str(metrics.get("first_error", "")).split())
        text += f"  {metrics['failed']} FAILED ({first[:160]})"
    suffix = f"  [{record.error}]" if record.error else ""
    return f"{text}  ({record.seconds:.1f} s){suffix}"


def detail(workload: str, metrics: dict[str, Any]) -> str:
    """One run's (or the medians') figures of a W3-W10 measurement, in words."""
    if workload in SCALE_DETAILS:
        return SCALE_DETAILS[workload](metrics)
    if workload == "W3":
        done = f"{metrics.get('completed', 0):.0f} trips" + (" (budget hit)" if metrics.get("budget_hit") else "")
        http = f"  HTTP request {metrics['http_p50_ms']:.1f} ms" if metrics.get("http_p50_ms") is not None else ""
        return (
            f"p50 {metrics['p50_ms']:.1f} ms  p99 {metrics['p99_ms']:.1f} ms  max {metrics['max_ms']:.1f} ms  {done}"
            + http
        )
    if workload == "W4":
        return (
            f"lateness p50 {metrics['p50_ms']:.1f} ms  p99 {metrics['p99_ms']:.1f} ms  max {metrics['max_ms']:.1f} ms"
            f"  {metrics.get('completed', 0):.0f} done"
        )
    if workload == "W5":
        text = f"recovered in {metrics['recovery_s']:.2f} s"
        if metrics.get("startup_s") is not None:
            text += f" (worker startup {metrics['startup_s']:.2f} s)"
        return text
    if workload == "W6":
        drained = f"{metrics.get('completed', 0):,.0f} done in {metrics.get('drain_s', 0):.2f} s"
        if metrics.get("drain_timeout"):
            drained += " (drain TIMEOUT)"
        parked = f"{metrics.get('parked', 0):,.0f} of {metrics.get('started', 0):,.0f} started parked"
        if metrics.get("park_timeout") or metrics.get("park_stalled"):
            parked += " (park TIMEOUT)" if metrics.get("park_timeout") else " (park stalled)"
        return f"{metrics['throughput']:.1f} wf/s  {drained}  RSS +{metrics['rss_delta_mib']:.1f} MiB  {parked}"
    return ""


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def meta(opts: Options, started: datetime, notes: dict[str, str]) -> dict[str, Any]:
    tmp = opts.tmp_root or Path(tempfile.gettempdir())
    return {
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python -m benchmarks", *sys.argv[1:]]),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "sqlite_dir_filesystem": filesystem_of(tmp),
        "runs": opts.runs,
        "scale": opts.scale,
        "systems": list(opts.systems),
        "workloads": {name: asdict(spec) for name, spec in WORKLOADS.items() if name in opts.workloads},
        **notes,
    }
