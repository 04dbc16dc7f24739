"""The workload shared by the multi-worker soak test, the database chaos test and their worker script.

This module defines no workflows (so a test can import it without registering anything): it only says which
instances exist, with which inputs, and what each must end with. ``soak_worker.py`` defines the workflows.

Kinds (instance ids are ``<kind>-<n>``):

- ``chain``: four activities, some pausing before (and one inside) their transaction; returns their tags.
- ``sleeper``: an activity, a durable ``sleep`` of 0.2-1 s, another activity.
- ``event``: waits for a CloudEvent ``soak.go`` addressed to it (``eddainstanceid``); returns the event's ``for``.
- ``broadcast``: waits for a broadcast CloudEvent ``soak.broadcast`` (no instance id).
- ``producer``: publishes jobs on the competing channel ``soak.jobs`` from workflow code, and one from an activity.
- ``consumer``: a few instances that subscribe to ``soak.jobs`` in competing mode, receive one message, process it
  in an activity and ``ctx.recur()``; a ``{"stop": true}`` message ends one consumer.

Every activity records its side effect as a row ``(instance_id, effect)`` in ``soak_effects`` through
``ctx.session`` (in the activity's own transaction), so the tests can count each exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

EFFECTS_TABLE = "soak_effects"
EFFECTS_DDL = f"CREATE TABLE IF NOT EXISTS {EFFECTS_TABLE} (instance_id VARCHAR(100), effect VARCHAR(200))"

JOBS_CHANNEL = "soak.jobs"
GO_EVENT = "soak.go"
BROADCAST_EVENT = "soak.broadcast"
LEASE_TIMEOUT_SECONDS = 2.0  # the workers' EddaApp(lease_timeout_seconds=...)
RECOVERY_INTERVAL = 0.2  # ... and recovery_interval
JOBS_PER_PRODUCER = 3  # published from workflow code; one more is published inside an activity

KINDS = ("chain", "sleeper", "event", "broadcast", "producer")


@dataclass(frozen=True)
class Planned:
    """One workflow instance of the workload and what it must end with."""

    instance_id: str
    workflow: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    expected_result: Any = None
    # The exact set of effects its activities record; None for consumers (their jobs depend on who wins each one).
    expected_effects: frozenset[str] | None = None


def job_ids(producer_id: str) -> list[str]:
    return [f"{producer_id}#{k}" for k in range(JOBS_PER_PRODUCER)] + [f"{producer_id}#act"]


def build_plan(count: int, consumers: int) -> list[Planned]:
    """``count`` instances in all: ``consumers`` consumers, the rest cycling through :data:`KINDS`."""
    plan = [Planned(f"consumer-{c}", "soak_consumer", {"processed": 0}, None, None) for c in range(consumers)]
    for n in range(count - consumers):
        kind = KINDS[n % len(KINDS)]
        iid = f"{kind}-{n:05d}"
        if kind == "chain":
            tags = [f"s{k}" for k in range(1, 5)]
            plan.append(Planned(iid, "soak_chain", {}, tags, frozenset(tags)))
        elif kind == "sleeper":
            seconds = 0.2 + (n % 9) * 0.1
            plan.append(Planned(iid, "soak_sleeper", {"seconds": seconds}, "slept", frozenset({"before", "after"})))
        elif kind == "event":
            plan.append(Planned(iid, "soak_event", {}, iid, frozenset({"ready", "got"})))
        elif kind == "broadcast":
            plan.append(Planned(iid, "soak_broadcast", {}, "broadcast", frozenset({"ready", "got"})))
        else:
            plan.append(
                Planned(iid, "soak_producer", {}, len(job_ids(iid)), frozenset({"publish-in-activity", "done"}))
            )
    return plan


def all_job_ids(plan: list[Planned]) -> set[str]:
    return {job for p in plan if p.workflow == "soak_producer" for job in job_ids(p.instance_id)}


def share(plan: list[Planned], index: int, workers: int) -> list[Planned]:
    """The instances worker ``index`` of ``workers`` starts."""
    return [p for n, p in enumerate(plan) if n % workers == index]


DRIVER_MODULES = ("asyncpg", "aiomysql", "pymysql", "sqlalchemy")


def is_driver_error(exc: BaseException) -> bool:
    """An exception raised by the database driver or SQLAlchemy itself (not by Edda or the test)."""
    return type(exc).__module__.split(".")[0] in DRIVER_MODULES
