"""Kill a real worker process right after its k-th storage write, restart a fresh one on the same database, and
check the outcome equals the crash-free run's with every side effect exactly once.

Side effects are rows written through ``ctx.session`` in the activity's (or compensation's) own transaction.

A commit point is a write of the run (:func:`edda.testing.faults.is_run_write`): creating the instance, each commit
of a step or of an activity's transaction, a receive, a publish, a claim that took the instance. Idle polls and
heartbeats (a recovery pass that claimed nothing, lease renewals, releasing leases at startup) are counted apart
and are not crash points. Set EDDA_CRASH_FULL=1 to try every write from the first to the last (the long form); by
default each run tries the first write, the last, and one point in between, which the scenarios and databases share
out so that together they try the second write, a third, half and two thirds of the way, and the last but one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import text

from edda.storage import open_storage
from edda.storage.records import FINISHED_STATUSES
from tests.integration.databases import temporary_database

WORKER = Path(__file__).with_name("crash_worker.py")
ROOT = Path(__file__).resolve().parents[2]
FULL = os.environ.get("EDDA_CRASH_FULL") == "1"
SCENARIOS = ["simple", "saga", "waiter", "messenger", "recur"]


def run_worker(
    db_url: str, scenario: str, instance_id: str, *, kill_after: int | None = None, count_file: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDDA_FAULT")}
    env["PYTHONPATH"] = str(ROOT)
    if kill_after is not None:
        env["EDDA_FAULT_KILL_AFTER_WRITES"] = str(kill_after)
    if count_file is not None:
        env["EDDA_FAULT_COUNT_FILE"] = str(count_file)
        env["EDDA_FAULT_KILL_AFTER_WRITES"] = str(10**9)  # count, never kill
    return subprocess.run(
        [sys.executable, str(WORKER), db_url, scenario, instance_id],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )


def result_of(proc: subprocess.CompletedProcess[str]) -> object:
    assert proc.returncode == 0, f"worker failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr[-3000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])["result"]


async def effects(db_url: str, instance_id: str) -> Counter[str]:
    storage = open_storage(db_url)
    await storage.initialize()
    try:
        async with storage.transaction() as tx:
            rows = await tx.session.execute(
                text("SELECT effect FROM crash_effects WHERE instance_id = :i"), {"i": instance_id}
            )
            return Counter(r[0] for r in rows)
    finally:
        await storage.close()


async def status(db_url: str, instance_id: str) -> str | None:
    storage = open_storage(db_url)
    await storage.initialize()
    try:
        record = await storage.get_instance(instance_id)
        return None if record is None else record.status
    finally:
        await storage.close()


# The short form's point between the first and the last write, shared out among the scenarios and databases: each
# (scenario, database) tries one, each scenario three different ones over the three databases, and each of the five
# is tried by three (the commit points are the engine's, the same on every database).
_MIDDLES = ("second", "a third", "half", "two thirds", "last but one")
_KINDS = ("sqlite", "postgresql", "mysql")


def crash_points(total: int, kind: str, scenario: str) -> list[int]:
    """The writes to kill after: all of them in the long form; else the first, the last and one in between (the
    second write, a third, half or two thirds of the way, or the last but one: see ``_MIDDLES``)."""
    if FULL:
        return list(range(1, total + 1))
    middle = {
        "second": 2,
        "a third": total // 3,
        "half": total // 2,
        "two thirds": (2 * total) // 3,
        "last but one": total - 1,
    }
    turn = (SCENARIOS.index(scenario) + 2 * _KINDS.index(kind)) % len(_MIDDLES)
    return sorted({1, total, middle[_MIDDLES[turn]]} & set(range(1, total + 1)))


def counted(count_file: Path) -> tuple[int, int]:
    """(writes of the run, polls) in a count file of ``KillAfterWrites``."""
    kinds = Counter(line.split(" ", 1)[0] for line in count_file.read_text().splitlines())
    return kinds["write"], kinds["poll"]


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sqlite", "postgresql", "mysql"])
@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_kill_at_every_commit_point(kind: str, scenario: str, tmp_path: Path) -> None:
    async with temporary_database(kind, tmp_path) as db_url:
        count_file = tmp_path / "writes.txt"
        reference = result_of(run_worker(db_url, scenario, "reference", count_file=count_file))
        expected = await effects(db_url, "reference")
        assert expected and all(n == 1 for n in expected.values())
        total, polls = counted(count_file)
        tried = []
        points = crash_points(total, kind, scenario)
        while points:
            k = points.pop(0)
            iid = f"k{k}"
            killed = run_worker(db_url, scenario, iid, kill_after=k)
            tried.append((k, killed.returncode))
            if killed.returncode == 0 and k >= total - 1:
                # This run needed a write fewer than the reference run: an entry that may wait for the next commit
                # (a fired timer's) rode on it here, where in the reference run (slower, on a busy machine) its
                # 20 ms flush timer wrote it alone. It finished uncrashed: it must have the reference outcome.
                assert result_of(killed) == reference, f"run {iid}: {result_of(killed)!r} != {reference!r}"
                assert await effects(db_url, iid) == expected
                continue
            assert killed.returncode == -9, (
                f"the worker was not killed after write {k} of {total} (exit code {killed.returncode}): the run made "
                f"fewer writes than the crash-free one\n{killed.stderr[-2000:]}"
            )
            if k >= total and await status(db_url, iid) not in FINISHED_STATUSES:
                # This run needs a write more than the reference run (the other way round from above: a fired
                # timer's entry written alone here rode on the next commit there). Write k was not its last, so
                # the last one is still to try: the next point is write k + 1, a run later (a few at most).
                assert k < total + 3, f"write {k} of {total} did not finish the run, nor did the three after it"
                points.append(k + 1)
            resumed = result_of(run_worker(db_url, scenario, iid))
            assert resumed == reference, f"after a kill at write {k}: {resumed!r} != {reference!r}"
            got = await effects(db_url, iid)
            assert got == expected, f"after a kill at write {k}: effects {dict(got)} != {dict(expected)}"
        report = os.environ.get("EDDA_CRASH_REPORT")
        if report:
            with open(report, "a") as fh:  # noqa: ASYNC230 - a few bytes of test report, after the run
                fh.write(
                    json.dumps(
                        {
                            "database": kind,
                            "scenario": scenario,
                            "writes": total,
                            "polls": polls,
                            "tried": len(tried),
                            "killed": sum(1 for _k, code in tried if code == -9),
                        }
                    )
                    + "\n"
                )
