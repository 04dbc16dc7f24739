"""Workload definitions and the job payload shared by the runner and every child process (stdlib only)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field

ACTIVITIES_PER_WORKFLOW = 3
WORKFLOW_WORKLOADS = ("W1", "W2")
WAIT_WORKLOADS = ("W3", "W4", "W5", "W6")  # events, timers, crash recovery, parking (see EventSystem)
SCALE_WORKLOADS = ("W7", "W8", "W9", "W10")  # long histories, parked at scale, scale-out, payloads (ScaleSystem)
VARIANT_WORKLOADS = (*WAIT_WORKLOADS, *SCALE_WORKLOADS)  # cells come in variants, see VARIANTS
ALL_WORKLOADS = (*WORKFLOW_WORKLOADS, "FLOOR", *WAIT_WORKLOADS, *SCALE_WORKLOADS)
DEFAULT_WORKLOADS = (*WORKFLOW_WORKLOADS, "FLOOR")
COMMIT_COUNTED = (*WORKFLOW_WORKLOADS, "FLOOR")  # PostgreSQL commit attribution is done for these only
DATABASES = ("sqlite", "postgres", "mysql")
DEFAULT_DATABASES = ("sqlite", "postgres")  # `--db both`

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
    "W7": WorkloadSpec(
        name="W7",
        description="one workflow of N sequential activities: time per step at the start and the end, memory, and "
        "the resume of a copy SIGKILLed at its last step",
        unit="ms/step",
        workflows=1,
        timeout_s=900.0,
        headline="step_ms",
        higher_is_better=False,
    ),
    "W8": WorkloadSpec(
        name="W8",
        description="100,000 workflows parked (90 % on an event, 10 % on a 1-hour timer): RSS, database bytes per "
        "instance, lateness of 1 s timers among them, then the drain of one broadcast event",
        unit="wf/s",
        workflows=100_000,
        timeout_s=3600.0,
        headline="throughput",
    ),
    "W9": WorkloadSpec(
        name="W9",
        description="W2-style workflows spread over 1, 2 or 4 worker processes on one database server",
        unit="wf/s",
        workflows=2000,
        timeout_s=600.0,
        headline="throughput",
    ),
    "W10": WorkloadSpec(
        name="W10",
        description="activity results and event payloads of 1 KB, 100 KB and 1 MB, JSON text or raw bytes",
        unit="wf/s",
        workflows=0,  # per variant, see SCALE_VARIANTS
        timeout_s=600.0,
        headline="throughput",
    ),
}

# W3-W6 variants per database: (label, systems it applies to or () for all, Job.extra settings).
W3_SAME, W3_CROSS = "same process", "cross-process"
W5_RESTART, W5_STANDBY, W5_STANDBY_LEASE2 = "restarted worker", "standby worker", "standby worker, lease 2 s"
W6_BROADCAST, W6_TARGETED = "broadcast", "targeted"
W3_HTTP = "HTTP, same process"
W4_USER = "user view"


@dataclass(frozen=True)
class Variant:
    """A row of a variant workload. ``extra`` goes to :attr:`Job.extra` as is; ``scaled`` too, multiplied by
    ``--scale`` (at least 2 for ``steps`` and ``workflows``, at least 1 otherwise)."""

    label: str
    systems: tuple[str, ...] = ()
    extra: tuple[tuple[str, str], ...] = ()
    scaled: tuple[tuple[str, int], ...] = ()


WAIT_VARIANTS: dict[str, dict[str, tuple[Variant, ...]]] = {
    "W3": {
        "sqlite": (Variant(W3_SAME), Variant(W3_HTTP)),
        "postgres": (Variant(W3_SAME), Variant(W3_CROSS), Variant(W3_HTTP)),
    },
    "W4": {"sqlite": (Variant(""), Variant(W4_USER)), "postgres": (Variant(""), Variant(W4_USER))},
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


def _w7(steps: int, recur: int = 0) -> Variant:
    label = f"N={steps:,}" + (f", recur every {recur:,}" if recur else "")
    scaled = (("steps", steps), ("recur", recur)) if recur else (("steps", steps),)
    return Variant(label, systems=("edda",) if recur else (), scaled=scaled)


_W7 = (_w7(100), _w7(1000), _w7(10_000), _w7(10_000, 1000))
_W8 = (Variant("100,000 waiting", scaled=(("instances", 100_000),)),)
_W9 = tuple(Variant(f"{n} process{'es' if n > 1 else ''}", extra=(("processes", str(n)),)) for n in (1, 2, 4))
W10_SIZES = ((1024, "1 KB", 200), (100 * 1024, "100 KB", 100), (1024 * 1024, "1 MB", 40))  # bytes, label, workflows
# edda-framework 0.16.2 cannot store bytes (an activity returning bytes ends in RetryExhaustedError): no bytes rows.
_W10 = tuple(
    Variant(
        f"{label} {encoding}",
        systems=("edda", "dbos") if encoding == "bytes" else (),
        extra=(("size", str(size)), ("encoding", encoding)),
        scaled=(("workflows", count),),
    )
    for size, label, count in W10_SIZES
    for encoding in ("json", "bytes")
)
W8_TIMER_SHARE = 0.1  # W8: this share of the parked workflows waits for a 1-hour timer, the rest for an event
W8_PROBE_TIMERS = 200  # W8: 1 s sleepers started among the parked ones; their lateness is reported
SCALE_VARIANTS: dict[str, dict[str, tuple[Variant, ...]]] = {
    "W7": {"sqlite": _W7, "postgres": _W7},
    "W8": {"sqlite": _W8, "postgres": _W8},
    "W9": {"postgres": _W9, "mysql": _W9},
    "W10": {"sqlite": _W10, "postgres": _W10},
}
VARIANTS: dict[str, dict[str, tuple[Variant, ...]]] = {**WAIT_VARIANTS, **SCALE_VARIANTS}

# FLOOR variants per database. The labels are what the table prints. "xN": N connections committing at once (the
# server's group commit), the ceiling W9's worker processes share.
FLOOR_VARIANTS: dict[str, tuple[str, ...]] = {
    "sqlite": ("aiosqlite wal+FULL", "aiosqlite wal+NORMAL", "aiosqlite delete+FULL"),
    "postgres": ("asyncpg txn", "asyncpg autocommit", "asyncpg txn x8"),
    "mysql": ("aiomysql txn", "aiomysql autocommit", "aiomysql txn x8"),
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
