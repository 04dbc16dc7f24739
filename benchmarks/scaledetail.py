"""The Detail column of W7-W10 rows: one run's (or the medians') figures in words. A figure the run could not
measure shows as ``—``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _num(metrics: dict[str, Any], key: str, spec: str = ".1f", scale: float = 1.0) -> str:
    value = metrics.get(key)
    return format(value * scale, spec) if isinstance(value, int | float) else "—"


def _kib(metrics: dict[str, Any], key: str) -> str:
    value = metrics.get(key)
    if not isinstance(value, int | float):
        return "—"
    return f"{value / 1024:,.1f} KiB" if abs(value) >= 1024 else f"{value:,.0f} B"


def w7(m: dict[str, Any]) -> str:
    if isinstance(m.get("resume_s"), int | float):
        resume = (
            f"resume {_num(m, 'resume_s', '.3f')} s (from the kill {_num(m, 'kill_to_done_s', '.2f')} s, "
            f"peak RSS {_num(m, 'resume_peak_mib', '.0f')} MiB)"
        )
    else:
        resume = "no resume within 30 s"
    first, last = m.get("first_ms"), m.get("last_ms")
    ratio = (
        f" (x{last / first:.2f})" if isinstance(first, int | float) and isinstance(last, int | float) and first else ""
    )
    return (
        f"{_num(m, 'step_ms', '.3f')} ms/step: first tenth {_num(m, 'first_ms', '.3f')}, last tenth "
        f"{_num(m, 'last_ms', '.3f')}{ratio}  {_num(m, 'steps', ',.0f')} steps in {_num(m, 'total_s', '.2f')} s  "
        f"RSS at the last step +{_num(m, 'rss_delta_mib')} MiB  {resume}"
    )


def w8(m: dict[str, Any]) -> str:
    parked = f"{_num(m, 'parked', ',.0f')} parked in {_num(m, 'park_s', '.0f')} s ({_num(m, 'park_rate', ',.0f')}/s)"
    if m.get("park_timeout") or m.get("park_stalled"):
        parked += " (park TIMEOUT)" if m.get("park_timeout") else " (park stalled)"
    drain = (
        f"drain {_num(m, 'throughput', ',.0f')} wf/s ({_num(m, 'completed', ',.0f')} in {_num(m, 'drain_s', '.1f')} s,"
        f" broadcast call {_num(m, 'delivery_s', '.1f')} s)"
    )
    if m.get("drain_timeout"):
        drain += " (drain TIMEOUT)"
    return (
        f"{parked}  RSS +{_num(m, 'rss_delta_mib')} MiB  {_num(m, 'db_bytes_per_instance', ',.0f')} B/instance  "
        f"1 s timers among them: p50 {_num(m, 'timer_p50_ms', '.0f')} ms, p99 {_num(m, 'timer_p99_ms', '.0f')} ms  "
        f"{drain}  peak RSS {_num(m, 'rss_peak_mib', ',.0f')} MiB"
    )


def w9(m: dict[str, Any]) -> str:
    commits = f"  {_num(m, 'commits_per_s', ',.0f')} commits/s" if m.get("commits_per_s") is not None else ""
    return (
        f"{_num(m, 'throughput', ',.0f')} wf/s{commits}  CPU cores: workers {_num(m, 'worker_cores', '.2f')}, "
        f"database {_num(m, 'server_cores', '.2f')}, machine {_num(m, 'machine_busy', '.0f', 100)} % busy  "
        f"ownership violations: {m.get('cross_process', 0)} cross-process, {m.get('duplicates', 0)} duplicate runs"
    )


def w10(m: dict[str, Any]) -> str:
    return (
        f"results {_num(m, 'throughput', ',.0f')} wf/s, events {_num(m, 'events_per_s', ',.0f')}/s  written "
        f"{_kib(m, 'written_per_wf')}/wf, {_kib(m, 'written_per_event')}/event  stored {_kib(m, 'stored_per_wf')}/wf, "
        f"{_kib(m, 'stored_per_event')}/event"
    )


SCALE_DETAILS: dict[str, Callable[[dict[str, Any]], str]] = {"W7": w7, "W8": w8, "W9": w9, "W10": w10}
