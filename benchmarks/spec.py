"""Workload definitions and the job payload shared by the runner and every child process (stdlib only)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field

ACTIVITIES_PER_WORKFLOW = 3
WORKFLOW_WORKLOADS = ("W1", "W2")
WAIT_WORKLOADS = ("W3", "W4", "W5", "W6")  # events, timers, crash recovery, parking (see EventSystem)
ALL_WORKLOADS = (*WORKFLOW_WORKLOADS, "FLOOR", *WAIT_WORKLOADS)
DEFAULT_WORKLOADS = (*WORKFLOW_WORKLOADS, "FLOOR")
COMMIT_COUNTED = (*WORKFLOW_WORKLOADS, "FLOOR")  # PostgreSQL commit attribution is done for these only
DATABASES = ("sqlite", "postgres")

JOB_ENV = "EDDA_BENCH_JOB"
PROTOCOL_PREFIX = "@@BENCH "

# Warm-up workflows run before the measured phase (and before the "before" commit sample); never timed.
WARMUP_WORKFLOWS = 5

# W3-W6: what every system's workflows wait for, and the bounds of each phase (seconds).
EVENT_TYPE = "bench.go"  # CloudEvent type / channel / DBOS topic every waiting workflow waits on
TIMER_SECONDS = 1.0  # W4: each workflow sleeps this long
PARK_LIMIT_S = 300.0  # W6: starting and parking every workflow
DRAIN_LIMIT_S = 120.0  # W6: from the first delivery until every workflow completed
RECOVERY_LIMIT_S = 75.0  # W5: from the kill until the workflow completed elsewhere
CONCURRENCY = 100  # W6: starts / targeted deliveries in flight at once


@dataclass(frozen=True)
class WorkloadSpec:
    name: str
    description: str
    unit: str
    workflows: int = 0
    duration_s: float = 0.0
    max_iterations: int = 0
    timeout_s: float = 120.0
    budget_s: float = 0.0  # W3: stop starting round trips after this long (0: no budget)
    headline: str = "throughput"  # the metric the table's "Median" and "Edda ÷ this" columns use
    higher_is_better: bool = True


WORKLOADS: dict[str, WorkloadSpec] = {
    "W1": WorkloadSpec(
        name="W1",
        description="200 workflows x 3 trivial activities, one after another; start -> result latency",
        unit="wf/s",
        workflows=200,
        timeout_s=180.0,
    ),
    "W2": WorkloadSpec(
        name="W2",
        description="1,000 workflows x 3 trivial activities started concurrently; first start -> last result",
        unit="wf/s",
        workflows=1000,
        timeout_s=300.0,
    ),
    "FLOOR": WorkloadSpec(
        name="FLOOR",
        description="one INSERT + COMMIT per iteration on one connection, raw driver",
        unit="commits/s",
        duration_s=3.0,
        max_iterations=100_000,
        timeout_s=90.0,
    ),
    "W3": WorkloadSpec(
        name="W3",
        description="200 sequential event round trips: send the event -> the waiting workflow resumed",
        unit="ms p50",
        workflows=200,
        timeout_s=260.0,
        budget_s=150.0,
        headline="p50_ms",
        higher_is_better=False,
    ),
    "W4": WorkloadSpec(
        name="W4",
        description="500 workflows started together, each sleeps 1 s; lateness = resume - (sleep start + 1 s)",
        unit="ms p99",
        workflows=500,
        timeout_s=150.0,
        headline="p99_ms",
        higher_is_better=False,
    ),
    "W5": WorkloadSpec(
        name="W5",
        description="SIGKILL a worker inside a long activity; another worker completes the workflow",
        unit="s",
        workflows=1,
        timeout_s=RECOVERY_LIMIT_S + 75.0,
        headline="recovery_s",
        higher_is_better=False,
    ),
    "W6": WorkloadSpec(
        name="W6",
        description="5,000 workflows parked on an event: RSS above idle, then drain rate once the events arrive",
        unit="wf/s",
        workflows=5000,
        timeout_s=PARK_LIMIT_S + DRAIN_LIMIT_S + 60.0,
        headline="throughput",
    ),
}

# W3-W6 variants per database: (label, systems it applies to or () for all, Job.extra settings).
W3_SAME, W3_CROSS = "same process", "cross-process"
W5_RESTART, W5_STANDBY, W5_STANDBY_LEASE2 = "restarted worker", "standby worker", "standby worker, lease 2 s"
W6_BROADCAST, W6_TARGETED = "broadcast", "targeted"


@dataclass(frozen=True)
class Variant:
    label: str
    systems: tuple[str, ...] = ()
    extra: tuple[tuple[str, str], ...] = ()


WAIT_VARIANTS: dict[str, dict[str, tuple[Variant, ...]]] = {
    "W3": {"sqlite": (Variant(W3_SAME),), "postgres": (Variant(W3_SAME), Variant(W3_CROSS))},
    "W4": {"sqlite": (Variant(""),), "postgres": (Variant(""),)},
    "W5": {
        "sqlite": (Variant(W5_RESTART),),
        "postgres": (
            Variant(W5_STANDBY),
            Variant(W5_STANDBY_LEASE2, systems=("edda",), extra=(("lease_timeout_seconds", "2"),)),
            Variant(W5_RESTART),
        ),
    },
    "W6": {
        "sqlite": (Variant(W6_BROADCAST), Variant(W6_TARGETED)),
        "postgres": (Variant(W6_BROADCAST), Variant(W6_TARGETED)),
    },
}

# FLOOR variants per database. The labels are what the table prints.
FLOOR_VARIANTS: dict[str, tuple[str, ...]] = {
    "sqlite": ("aiosqlite wal+FULL", "aiosqlite wal+NORMAL", "aiosqlite delete+FULL"),
    "postgres": ("asyncpg txn", "asyncpg autocommit"),
}


def expected_result(n: int) -> int:
    """What the benchmark workflow returns for input ``n``: add_one -> double -> minus_one."""
    return (n + 1) * 2 - 1


@dataclass(frozen=True)
class Job:
    """Everything a child needs. Travels in the environment (never argv) because it holds the database URL."""

    workload: str
    db: str
    db_url: str
    workflows: int = 0
    warmup: int = WARMUP_WORKFLOWS
    deadline_s: float = 120.0
    duration_s: float = 0.0
    max_iterations: int = 0
    variant: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def to_env(self) -> dict[str, str]:
        return {JOB_ENV: json.dumps(asdict(self))}

    @classmethod
    def from_env(cls) -> Job:
        raw = os.environ.get(JOB_ENV)
        if not raw:
            raise RuntimeError(f"{JOB_ENV} is not set: this module is started by `python -m benchmarks run`")
        return cls(**json.loads(raw))

    @property
    def sqlite_path(self) -> str:
        """Filesystem path of the SQLite database (``db_url`` is ``sqlite:///<absolute path>``)."""
        if not self.db_url.startswith("sqlite:///"):
            raise ValueError("not a sqlite job")
        return self.db_url.removeprefix("sqlite:///")
