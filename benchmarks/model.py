"""Runner-side data: options, table cells and per-run records."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Options:
    dbs: tuple[str, ...]
    workloads: tuple[str, ...]
    systems: tuple[str, ...]
    runs: int = 3
    scale: float = 1.0
    tmp_root: Path | None = None
    variants: tuple[str, ...] = ()  # keep only the variant rows whose label contains one of these (W3-W10)


@dataclass(frozen=True)
class Cell:
    """One series of the table: the same measurement repeated ``runs`` times."""

    workload: str
    db: str
    system: str
    variant: str = ""


@dataclass
class RunRecord:
    """One run of one cell. Commit figures are PostgreSQL only, with setup/warm-up/teardown subtracted."""

    run: int
    status: str  # ok | error | timeout | unavailable
    seconds: float
    metrics: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    wal_commits: int | None = None
    xacts: int | None = None
    commits_per_activity: float | None = None  # WAL commit records per activity (per iteration for FLOOR)
    xacts_per_activity: float | None = None  # pg_stat_database.xact_commit per activity (incl. read-only)
    raw_counts: dict[str, Any] = field(default_factory=dict)  # whole child lifetime, and the baseline subtracted
