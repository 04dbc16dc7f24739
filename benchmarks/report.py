"""Tables (plain text or Markdown) and the JSON results file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks.spec import VARIANT_WORKLOADS, WORKLOADS
from benchmarks.summary import FLAGS, detail
from benchmarks.venvs import PEERS

HEADERS = (
    "Workload",
    "DB",
    "System",
    "Median",
    "Min–max",
    "p50 ms",
    "p99 ms",
    "Commits/act",
    "Xacts/act",
    "Failed wf",
    "OK runs",
    "Edda ÷ this",
    "Detail",
)
_LEFT_ALIGNED = {0, 1, 2, len(HEADERS) - 1}
_DIGITS = {"FLOOR": 0, "W5": 2, "W7": 3}


def _number(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _label(series: dict[str, Any]) -> str:
    if series["workload"] == "FLOOR":
        return series["variant"]
    label = f"{series['system']} {series['version']}".strip()
    return f"{label} · {series['variant']}" if series.get("variant") else label


def _headline(series: dict[str, Any]) -> float | None:
    value = series["median"].get(WORKLOADS[series["workload"]].headline)
    return float(value) if isinstance(value, int | float) else None


def _edda_ratio(series: dict[str, Any], everything: list[dict[str, Any]]) -> str:
    if series["workload"] == "FLOOR" or series["system"] not in PEERS or series["status"] != "ok":
        return ""
    for other in everything:
        same_cell = (other["workload"], other["db"], other.get("variant", "")) == (
            series["workload"],
            series["db"],
            series.get("variant", ""),
        )
        if same_cell and other["system"] == "edda" and other["status"] == "ok":
            ours, theirs = _headline(other), _headline(series)
            return f"{ours / theirs:.2f}×" if ours is not None and theirs else "—"
    return "—"


def _scale_out(series: dict[str, Any], everything: list[dict[str, Any]]) -> str:
    """W9: the throughput over that of one process (same system and database)."""
    if series["workload"] != "W9":
        return ""
    for other in everything:
        alone = (other["workload"], other["db"], other["system"], other.get("variant")) == (
            "W9",
            series["db"],
            series["system"],
            "1 process",
        )
        if alone and other["status"] == "ok":
            ours, base = _headline(series), _headline(other)
            return f"; x{ours / base:.2f} of 1 process" if ours is not None and base else ""
    return ""


def _detail(series: dict[str, Any], everything: list[dict[str, Any]]) -> str:
    workload, med = series["workload"], series["median"]
    if workload not in VARIANT_WORKLOADS or series["status"] != "ok":
        return ""
    try:
        text = detail(workload, {key: value for key, value in med.items() if key not in FLAGS})
    except KeyError:
        return ""
    hits = [f"{flag.replace('_', ' ')} in {med[flag]}/{series['ok_runs']} runs" for flag in FLAGS if med.get(flag)]
    return "; ".join([text + _scale_out(series, everything), *hits])


def rows(document: dict[str, Any]) -> list[tuple[str, ...]]:
    table: list[tuple[str, ...]] = []
    everything = document["series"]
    for series in everything:
        med = series["median"]
        spec = WORKLOADS[series["workload"]]
        digits = _DIGITS.get(series["workload"], 1)
        headline = _headline(series)
        if series["status"] == "ok" and headline is not None:
            value = f"{_number(headline, digits)} {spec.unit}"
            low, high = med.get(f"{spec.headline}_min"), med.get(f"{spec.headline}_max")
            spread = f"{_number(low, digits)}–{_number(high, digits)}"
        else:
            value, spread = series["status"], ""
        table.append(
            (
                series["workload"],
                series["db"],
                _label(series),
                value,
                spread,
                _number(med.get("p50_ms")) if "p50_ms" in med else "",
                _number(med.get("p99_ms")) if "p99_ms" in med else "",
                _number(med.get("commits_per_activity"), 2) if "commits_per_activity" in med else "",
                _number(med.get("xacts_per_activity"), 2) if "xacts_per_activity" in med else "",
                f"{med['failed']}/{med['workflows']}" if med.get("failed") else "",
                f"{series['ok_runs']}/{series['runs']}",
                _edda_ratio(series, everything),
                _detail(series, everything),
            )
        )
    return table


def render_text(document: dict[str, Any]) -> str:
    table = [HEADERS, *rows(document)]
    widths = [max(len(row[i]) for row in table) for i in range(len(HEADERS))]
    lines = []
    for index, row in enumerate(table):
        cells = [cell.ljust(widths[i]) if i in _LEFT_ALIGNED else cell.rjust(widths[i]) for i, cell in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines + _notes(document))


def render_markdown(document: dict[str, Any]) -> str:
    table = rows(document)
    aligns = ["---" if i in _LEFT_ALIGNED else "---:" for i in range(len(HEADERS))]
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "|".join(aligns) + "|"]
    lines += ["| " + " | ".join(cell or " " for cell in row) + " |" for row in table]
    return "\n".join(lines)


def _notes(document: dict[str, Any]) -> list[str]:
    meta = document["meta"]
    notes = [
        "",
        f"Medians of {meta['runs']} runs (scale {meta['scale']}). PostgreSQL only, per activity (per iteration for "
        "FLOOR), setup/warm-up/teardown subtracted: Commits = WAL commit records of transactions that wrote (durable "
        "commits), Xacts = pg_stat_database.xact_commit (all transactions, read-only included). Failed wf = failed "
        "workflows over all runs (throughput counts completed ones). Edda ÷ this = our median over the peer's, of "
        "the Median column: for W3/W4/W5/W7 (latency, lateness, recovery time, time per step) lower is better, so "
        "below 1× favours Edda; for W1/W2/W6/W8/W9/W10 (workflows/s) above 1× does. W6/W8 Detail: RSS = VmRSS with "
        "every workflow parked minus VmRSS idle.",
    ]
    for series in document["series"]:
        where = f"{series['workload']} {series['db']} {_label(series)}"
        for error in series["errors"]:
            notes.append(f"! {where}: {_one_line(error)[:400]}")
        firsts = [r["metrics"].get("first_error") for r in series["records"] if r["metrics"].get("first_error")]
        if firsts:
            notes.append(f"! {where}: failed workflows, first one: {_one_line(firsts[0])[:300]}")
    return notes


def _one_line(text: str) -> str:
    return " ".join(text.split())


def write_json(document: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n")


def load_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())
