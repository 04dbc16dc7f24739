"""Faults injected into every storage call, under a mixed workload, on SQLite, PostgreSQL and MySQL.

The workload (``fault_workload.py``): activities writing through ``ctx.session``, retries, sagas, sleeps, events,
broadcast and competing channels, ``ctx.recur()`` and the outbox to a loopback HTTP receiver. It runs twice on
fresh databases of the same kind: once without faults (the reference), once through a
:class:`~edda.testing.faults.FaultInjectingStorage` injecting lost connections (before the call, and after the commit
but before the reply), deadlocks, timeouts and read-only spells into every kind of storage call while the waves of
the workload are started. Then the faults stop, and the checks are:

- every instance ends as the plan says, and as in the fault-free run (status, result, the kinds of its history);
- every ``ctx.session`` effect exists exactly once (a primary key makes a second write fail, and none is missing);
- every job on a competing channel was processed once; every broadcast message reached every listener;
- the receiver saw every outbox event, in order per instance (deduplicated by id);
- faults of every kind were injected, including lost replies of commits.

Short form (default, CI): 4 waves (56 instances), about 6 s of faults. Long form (``EDDA_FAULTS_FULL=1``): 60 waves
(840 instances), about 60 s of faults. ``EDDA_FAULTS_REPORT=path`` appends the figures as JSON lines; ``-s`` prints
them; ``EDDA_FAULTS_SEED`` changes the seed of the draws (2026).

The last test is a bug the wrapper found, with one injected fault: the commit of a workflow-level
``ctx.transaction()`` block failed the instance instead of replaying the run (fixed in ``RunState.commit_in_transaction``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from sqlalchemy import text

from edda import EddaApp, WorkflowFailedError
from edda.storage import open_storage
from edda.testing.faults import FaultInjectingStorage, FaultKind, FaultRates
from tests.integration.databases import temporary_database
from tests.integration.fault_support import (
    RunOutcome,
    RunSettings,
    WorkloadRun,
    check_against_plan,
    check_same_endings,
)
from tests.integration.fault_workload import EFFECTS_DDL, job_effects

FULL = os.environ.get("EDDA_FAULTS_FULL") == "1"
WAVES = 60 if FULL else 4
WAVE_GAP = 1.0
FAULT_SECONDS = 62.0 if FULL else 6.0
# Every call: 1 % of each kind (reads: lost before/after and timeouts only). The engine's commits: 2 % of each.
RATES = FaultRates.each(0.01)
HOT = FaultRates.each(0.02)
SEED = int(os.environ.get("EDDA_FAULTS_SEED", "2026"))
PER_CALL = {"commit_step": HOT, "transaction_commit": HOT, "receive_or_wait": HOT, "create_instance": HOT}


def figures(kind: str, outcome: RunOutcome, reference: RunOutcome) -> dict[str, object]:
    stats = outcome.stats
    return {
        "database": kind,
        "instances": len(outcome.endings),
        "storage_calls": stats.total_calls,
        "faults": stats.total_faults,
        "faults_by_kind": {str(k): n for k, n in stats.by_kind().items()},
        "faults_by_call": dict(sorted(stats.by_call().items())),
        "lost_replies_of_commits": sum(
            stats.faults[(call, FaultKind.LOST_AFTER)] for call in ("commit_step", "transaction_commit")
        ),
        "effects": len(outcome.effects),
        "outbox_events": len(outcome.outbox_ids),
        "outbox_deliveries": outcome.deliveries,
        "outbox_refused_503": outcome.refused,
        "client_retries": outcome.client_retries,
        "fault_seconds": round(outcome.fault_seconds, 1),
        "seconds": round(outcome.seconds, 1),
        "reference_seconds": round(reference.seconds, 1),
    }


@pytest.mark.slow
@pytest.mark.timeout(1800 if FULL else 300)
@pytest.mark.parametrize("kind", ["sqlite", "postgresql", "mysql"])
async def test_every_workflow_ends_as_without_faults(kind: str, tmp_path: Path) -> None:
    settings = RunSettings(
        WAVES, WAVE_GAP, FAULT_SECONDS, RATES, PER_CALL, seed=SEED, wait_seconds=180.0 if FULL else 60.0
    )
    async with temporary_database(kind, tmp_path) as reference_url:
        reference_run = WorkloadRun(reference_url, RunSettings(WAVES, 0.2, 0.0, FaultRates()))
        reference = await reference_run.run()
    assert reference.stats.total_faults == 0 and reference.stats.total_calls > 0
    check_against_plan(reference_run.plan, reference, job_effects(reference_run.plan))

    async with temporary_database(kind, tmp_path) as faulted_url:
        faulted_run = WorkloadRun(faulted_url, settings)
        faulted = await faulted_run.run()

    report = figures(kind, faulted, reference)
    print(f"\n[{kind}] {json.dumps(report)}")
    if os.environ.get("EDDA_FAULTS_REPORT"):
        with open(os.environ["EDDA_FAULTS_REPORT"], "a") as fh:  # noqa: ASYNC230 - a line of report after the run
            fh.write(json.dumps(report) + "\n")
    by_kind = faulted.stats.by_kind()
    assert all(by_kind[k] > 0 for k in FaultKind), f"some kinds of fault were never injected: {by_kind}"
    assert report["lost_replies_of_commits"], "no commit lost its reply: the write-happened-but-failed case was not run"
    check_against_plan(faulted_run.plan, faulted, job_effects(faulted_run.plan))
    check_same_endings(reference, faulted)


@pytest.mark.parametrize("fault", [FaultKind.LOST_BEFORE, FaultKind.CONFLICT])
async def test_a_fault_at_the_commit_of_a_workflow_level_transaction_is_retried(
    fault: FaultKind, tmp_path: Path
) -> None:
    inner = open_storage(f"sqlite:///{tmp_path}/block.db")
    await inner.initialize()
    async with inner.transaction() as tx:
        await tx.session.execute(text(EFFECTS_DDL))
    storage = FaultInjectingStorage(
        inner, per_call={"transaction_commit": FaultRates(**{fault.value: 1.0})}, max_faults=1
    )
    app = EddaApp(storage=storage, lease_timeout_seconds=2, recovery_interval=0.2)
    await app.initialize()
    try:
        await app.start_workflow("fi_block", {}, instance_id="block-1")
        try:
            result = await app.wait_for_result("block-1", timeout=30)
        except WorkflowFailedError as exc:
            result = f"failed: {exc.error_type}"
    finally:
        await app.shutdown()
        await inner.close()
    assert storage.stats.faults[("transaction_commit", fault)] == 1  # the block's commit failed once
    assert result == "done"
