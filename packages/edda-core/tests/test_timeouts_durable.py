"""Timeouts survive a crash: a real worker process is killed with SIGKILL in the middle of an activity attempt or of
a wait, and a fresh process on the same database (SQLite, PostgreSQL, MySQL) finds the clocks where they were.

PostgreSQL and MySQL run when EDDA_TEST_POSTGRES_URL / EDDA_TEST_MYSQL_URL are set (each test gets a database of its
own, dropped afterwards); without them those cases skip with a message saying how to enable them.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from edda import EddaApp
from tests.integration.databases import temporary_database

WORKER = Path(__file__).resolve().parent / "timeouts_crash_worker.py"
ROOT = Path(__file__).resolve().parents[3]
ATTEMPT_TIMEOUT = 3.0  # as in timeouts_crash_worker.py
EXECUTION_TIMEOUT = 4.0


@dataclass
class Crashes:
    """Worker processes on one database, an effects file they append to, and a client app to look at the rows."""

    db: str
    effects: Path
    client: EddaApp

    def env(self, *, hang: bool) -> dict[str, str]:
        path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
        return os.environ | {
            "PYTHONPATH": path,
            "EDDA_TEST_DB_URL": self.db,
            "EDDA_TEST_EFFECTS": str(self.effects),
            "EDDA_TEST_HANG": "1" if hang else "0",
        }

    def lines(self) -> list[str]:
        text = self.effects.read_text() if self.effects.exists() else ""
        return [line.rsplit(" pid=", 1)[0] for line in text.splitlines()]

    def pids(self, effect: str) -> list[str]:
        text = self.effects.read_text() if self.effects.exists() else ""
        return [line.rsplit(" pid=", 1)[1] for line in text.splitlines() if line.rsplit(" pid=", 1)[0] == effect]

    async def start_and_kill(self, *args: str, until: str, status: str | None = None) -> None:
        """Start an instance in a worker that hangs where it can; SIGKILL it once ``until`` is in the effects (and
        the instance ``args[1]`` has ``status``, if given)."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(WORKER),
            "start",
            *args,
            env=self.env(hang=True),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            for _ in range(1200):
                if proc.returncode is not None:
                    break
                if until in self.lines() and (status is None or await self.status_of(args[1]) == status):
                    break
                await asyncio.sleep(0.025)
            else:
                raise AssertionError(f"the worker never reached {until!r}: {self.lines()}")
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGKILL)
            _, err = await asyncio.wait_for(proc.communicate(), timeout=30)
        assert proc.returncode == -signal.SIGKILL, err.decode()[-3000:]

    async def finish(self, instance_id: str, *, hang: bool) -> dict[str, Any]:
        """A fresh worker process runs the database's instances until ``instance_id`` finishes."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(WORKER),
            "finish",
            instance_id,
            env=self.env(hang=hang),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
        assert proc.returncode == 0, err.decode()[-3000:]
        return json.loads(out.decode().strip().splitlines()[-1])

    async def history(self, instance_id: str) -> list[tuple[str, dict[str, Any]]]:
        return [(e.event_type, e.event_data) for e in await self.client.storage.get_history(instance_id)]

    async def status_of(self, instance_id: str) -> str | None:
        record = await self.client.get_instance(instance_id)
        return None if record is None else record.status


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
async def crashes(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Crashes]:
    async with temporary_database(request.param, tmp_path) as db:
        async with EddaApp(service_name="timeouts-test", db_url=db, run_workflows=False) as client:  # migrates first
            yield Crashes(db, tmp_path / "effects.txt", client)


async def sleep_past(moment: datetime, client: EddaApp) -> None:
    """Sleep until ``moment`` (a time on the database's clock) has passed."""
    await asyncio.sleep(max(0.0, (moment - client.clock.now()).total_seconds()) + 0.3)


@pytest.mark.timeout(240)
async def test_a_killed_attempt_keeps_its_deadline(crashes: Crashes) -> None:
    await crashes.start_and_kill("partner_order", "pa-1", until="call_partner pa-1")
    started = [data for kind, data in await crashes.history("pa-1") if kind == "ActivityAttemptStarted"]
    assert [s["attempt"] for s in started] == [1]  # recorded before the body ran, so it outlived the process
    await sleep_past(
        datetime.fromisoformat(started[0]["started_at"]) + timedelta(seconds=ATTEMPT_TIMEOUT), crashes.client
    )

    result = await crashes.finish("pa-1", hang=False)

    assert result["status"] == "completed" and result["output"] == "accepted pa-1"
    history = await crashes.history("pa-1")
    failed = [data for kind, data in history if kind == "ActivityAttemptFailed"]
    assert [(f["attempt"], f["error"]["error_type"]) for f in failed] == [(1, "ActivityTimeoutError")]
    assert history[-1][0] == "ActivityCompleted" and history[-1][1]["retry_metadata"]["total_attempts"] == 2
    # The killed attempt was not run again (its time was up); the second attempt ran in the new process.
    first, second = crashes.pids("call_partner pa-1")
    assert first != second


@pytest.mark.timeout(240)
async def test_a_wait_killed_mid_way_is_cancelled_at_the_stored_deadline(crashes: Crashes) -> None:
    await crashes.start_and_kill("deadline_order", "wa-1", "wait", until="reserve wa-1", status="waiting_for_event")
    record = await crashes.client.get_instance("wa-1")
    assert record.wake_at == record.created_at + timedelta(seconds=EXECUTION_TIMEOUT)

    result = await crashes.finish("wa-1", hang=False)  # a process that never saw the start

    assert result["status"] == "cancelled"
    assert result["error"]["reason"] == "execution_timeout"
    assert "execution timeout of 4 s exceeded" in result["error"]["message"]
    assert crashes.lines().count("reserve wa-1") == 1 and crashes.lines().count("release wa-1") == 1
    assert crashes.pids("release wa-1") != crashes.pids("reserve wa-1")  # compensated by the new process
    finished = await crashes.client.get_instance("wa-1")
    assert finished.completed_at >= record.created_at + timedelta(seconds=EXECUTION_TIMEOUT)


@pytest.mark.timeout(240)
async def test_an_activity_killed_past_the_deadline_is_not_run_again(crashes: Crashes) -> None:
    await crashes.start_and_kill("deadline_order", "ac-1", until="pack ac-1")
    record = await crashes.client.get_instance("ac-1")
    await sleep_past(record.created_at + timedelta(seconds=EXECUTION_TIMEOUT), crashes.client)

    result = await crashes.finish("ac-1", hang=True)  # were `pack` run again, it would hang here

    assert result["status"] == "cancelled" and result["error"]["reason"] == "execution_timeout"
    assert crashes.lines().count("pack ac-1") == 1  # only in the killed process
    assert crashes.lines().count("release ac-1") == 1
    assert crashes.pids("release ac-1") != crashes.pids("pack ac-1")  # the compensation ran in the new process
    kinds = [kind for kind, _ in await crashes.history("ac-1")]
    assert kinds.count("CompensationExecuted") == 1
