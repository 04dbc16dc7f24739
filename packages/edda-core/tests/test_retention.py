"""Instance retention: ``EddaApp(instance_retention_days=N)`` deletes finished instances and their history N days
after they finished, in batches, on every backend; ``edda retention --days N`` shows what that deletes.

SQLite, PostgreSQL and MySQL: the databases are filled by real apps, one on a clock set 40 days back, so its instances
finished "40 days ago"; the ``edda`` command runs as a subprocess. PostgreSQL and MySQL run when
EDDA_TEST_POSTGRES_URL / EDDA_TEST_MYSQL_URL are set, and skip with a message saying how otherwise.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from edda import (
    ConfigurationError,
    EddaApp,
    TerminalError,
    WorkflowContext,
    WorkflowFailedError,
    activity,
    send_event_transactional,
    wait_event,
    workflow,
)
from edda._retention import delete_expired_instances
from edda._settings import AppSettings
from edda.clock import SystemClock
from edda.storage.memory import InMemoryStorage
from edda.storage.records import Fence, InstanceUpdate, NewInstance, StepCommit
from edda.testing import FakeClock
from edda_storage_sql import SQLAlchemyStorage
from tests.integration.databases import temporary_database

ROOT = Path(__file__).resolve().parents[3]


@activity
async def retention_note(ctx: WorkflowContext, order: str) -> str:
    return order


@activity
async def retention_refuse(ctx: WorkflowContext, order: str) -> None:
    raise TerminalError(f"order {order} refused")


@activity
async def retention_announce(ctx: WorkflowContext, order: str) -> None:
    await send_event_transactional(ctx, "order.kept", "retention-test", {"order": order})


@workflow
async def retention_order(ctx: WorkflowContext, order: str, outcome: str) -> str:
    await retention_note(ctx, order)
    if outcome == "fail":
        await retention_refuse(ctx, order)
    elif outcome == "announce":  # an outbox event nobody relays (outbox_enabled is off): it stays pending
        await retention_announce(ctx, order)
    elif outcome == "wait":
        await wait_event(ctx, f"never.{order}")
    return order


@dataclass
class Seeded:
    db: str
    old: list[str]  # finished 40 and 39 days ago: past a 30-day retention
    kept: list[str]  # finished long ago but with an outbox event to send, still waiting, or finished today


async def run_to_end(app: EddaApp, order: str, outcome: str) -> str:
    iid = await retention_order.start(instance_id=order, order=order, outcome=outcome)
    if outcome == "wait":
        return iid
    try:
        await app.wait_for_result(iid, timeout=30)
    except WorkflowFailedError:
        pass
    return iid


async def seed(db: str) -> Seeded:
    clock = FakeClock(datetime.now(UTC) - timedelta(days=40))
    async with EddaApp(service_name="retention-seed", db_url=db, clock=clock, recovery_interval=0.1) as app:
        old = [await run_to_end(app, "old-done", "complete")]
        clock.advance(24 * 3600)
        old.append(await run_to_end(app, "old-failed", "fail"))
        held = await run_to_end(app, "old-held", "announce")
        waiting = await run_to_end(app, "old-waiting", "wait")
        for _ in range(400):
            if (await app.get_instance(waiting)).status == "waiting_for_event":
                break
            await asyncio.sleep(0.025)
    async with EddaApp(service_name="retention-seed-today", db_url=db, recovery_interval=0.1) as app:
        today = await run_to_end(app, "new-done", "complete")
    return Seeded(db, old, [held, waiting, today])


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
async def seeded(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Seeded]:
    async with temporary_database(request.param, tmp_path) as db:
        yield await seed(db)


def edda(*args: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "EDDA_DB_URL"}
    return subprocess.run(
        [sys.executable, "-m", "edda", *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )


# -- the edda command -----------------------------------------------------------------------------------------------


@pytest.mark.timeout(180)
async def test_edda_retention_shows_what_a_period_deletes(seeded: Seeded) -> None:
    table = await asyncio.to_thread(edda, "retention", "--days", "30", "--db", seeded.db)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].startswith("2 finished instance(s) finished more than 30 days ago (before ")
    assert "instance_retention_days=30 deletes them" in lines[0]
    assert lines[1].split() == ["INSTANCE", "WORKFLOW", "STATUS", "FINISHED"]
    assert [line.split()[:3] for line in lines[2:]] == [
        ["old-done", "retention_order", "completed"],
        ["old-failed", "retention_order", "failed"],
    ]

    first = await asyncio.to_thread(edda, "retention", "--days", "30", "--limit", "1", "--json", "--db", seeded.db)
    report = json.loads(first.stdout)
    assert (report["days"], report["count"], report["has_more"]) == (30.0, 2, True)
    assert [r["instance_id"] for r in report["instances"]] == ["old-done"]  # the earliest finished first
    cutoff = datetime.fromisoformat(report["cutoff"])
    assert datetime.now(UTC) - timedelta(days=30, minutes=5) < cutoff < datetime.now(UTC) - timedelta(days=30)

    fewer = json.loads(
        (await asyncio.to_thread(edda, "retention", "--days", "39.5", "--json", "--db", seeded.db)).stdout
    )
    assert [r["instance_id"] for r in fewer["instances"]] == ["old-done"]  # old-failed finished 39 days ago
    none = await asyncio.to_thread(edda, "retention", "--days", "100", "--db", seeded.db)
    assert none.stdout.startswith("0 finished instance(s)") and "INSTANCE" not in none.stdout

    bad = await asyncio.to_thread(edda, "retention", "--days", "0", "--db", seeded.db)
    assert bad.returncode == 2 and "--days takes a number of days above 0" in bad.stderr
    assert (await asyncio.to_thread(edda, "retention", "--db", seeded.db)).returncode == 2  # --days is required


# -- the worker's pass ----------------------------------------------------------------------------------------------


@pytest.mark.timeout(180)
async def test_an_app_with_retention_deletes_what_the_command_showed(seeded: Seeded) -> None:
    async with EddaApp(service_name="retention-worker", db_url=seeded.db, instance_retention_days=30) as app:
        for _ in range(400):  # the cleanup loop's first pass runs at start
            if all([await app.get_instance(iid) is None for iid in seeded.old]):
                break
            await asyncio.sleep(0.025)
        for iid in seeded.old:
            assert await app.get_instance(iid) is None
            assert await app.storage.get_history(iid) == []
        for iid in seeded.kept:
            assert await app.get_instance(iid) is not None
        assert len(await app.storage.get_history("old-held")) == 2  # its pending outbox event holds it
        assert [e.instance_id for e in await app.list_outbox_events()] == ["old-held"]
    report = json.loads(
        (await asyncio.to_thread(edda, "retention", "--days", "30", "--json", "--db", seeded.db)).stdout
    )
    assert report["count"] == 0


async def test_without_a_period_nothing_is_deleted() -> None:
    storage = InMemoryStorage()
    await _finished(storage, ["a", "b"], datetime(2020, 1, 1, tzinfo=UTC))
    settings = AppSettings(instance_retention_days=None)
    assert await delete_expired_instances(storage, settings, SystemClock()) == 0
    assert await storage.count_expired_instances(finished_before=datetime.now(UTC)) == 2


async def test_a_pass_deletes_in_bounded_batches() -> None:
    storage = InMemoryStorage()
    clock = FakeClock(datetime(2026, 3, 1, tzinfo=UTC))
    await _finished(storage, [f"i-{n}" for n in range(7)], datetime(2026, 1, 1, tzinfo=UTC))
    await _finished(storage, ["recent"], datetime(2026, 2, 28, tzinfo=UTC))
    settings = AppSettings(instance_retention_days=30)
    assert await delete_expired_instances(storage, settings, clock, batch=3, max_batches=2) == 6  # the cap of a pass
    assert await storage.count_expired_instances(finished_before=datetime(2026, 1, 30, tzinfo=UTC)) == 1
    assert await delete_expired_instances(storage, settings, clock, batch=3, max_batches=2) == 1  # the next pass
    assert await storage.get_instance("recent") is not None


async def test_a_failing_pass_is_logged_and_raises_nothing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    storage = SQLAlchemyStorage(f"sqlite:///{tmp_path / 'closed.db'}")  # never initialized: every call fails
    with caplog.at_level(logging.WARNING, logger="edda"):
        assert await delete_expired_instances(storage, AppSettings(instance_retention_days=1), SystemClock()) == 0
    assert "Instance retention pass failed (it runs again within the hour)" in caplog.text


@pytest.mark.parametrize("bad", [0, -1, "30", True, float("inf"), 36501])
def test_a_bad_retention_period_is_refused(bad: Any) -> None:
    with pytest.raises(ConfigurationError, match="instance_retention_days must be a number of days"):
        EddaApp(storage=InMemoryStorage(), instance_retention_days=bad)


async def _finished(storage: InMemoryStorage, ids: list[str], at: datetime) -> None:
    for iid in ids:
        await storage.create_instance(NewInstance(iid, "wf", {}, "w", at, at))
        update = InstanceUpdate(status="completed", completed_at=at, release_lease=True)
        await storage.commit_step(StepCommit(Fence(iid, "w", 1), at, update=update))
