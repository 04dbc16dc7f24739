"""The ``edda`` command end to end: a real subprocess (``python -m edda``) against a SQLite file, PostgreSQL and
MySQL that a real app filled with instances of every kind."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from edda import EddaApp, InstanceStatus
from edda.outbox import OutboxOptions
from tests.cli.cli_flows import cli_announcing, cli_double, cli_failing, cli_waiting
from tests.integration.databases import temporary_database

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> object:
        return json.loads(self.out)


def edda(*args: str, db: str | None = None, env: dict[str, str] | None = None) -> Result:
    command = [sys.executable, "-m", "edda", *args]
    if db is not None:
        command += ["--db", db]
    environment = {k: v for k, v in os.environ.items() if k != "EDDA_DB_URL"} | (env or {})
    done = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60)
    return Result(done.returncode, done.stdout, done.stderr)


async def edda_async(*args: str, db: str | None = None, env: dict[str, str] | None = None) -> Result:
    return await asyncio.to_thread(edda, *args, db=db, env=env)


@dataclass
class Seeded:
    db: str
    completed: list[str]
    failed: str
    waiting: str


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
async def seeded(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Seeded]:
    async with temporary_database(request.param, tmp_path) as db:
        async with EddaApp(service_name="cli-seed", db_url=db) as app:
            completed = []
            for n in range(5):
                iid = await cli_double.start(n=n, customer={"id": f"C-{n % 2}"})
                await app.wait_for_result(iid, timeout=10)
                completed.append(iid)
            failed = await cli_failing.start()
            with pytest.raises(Exception, match="card declined"):
                await app.wait_for_result(failed, timeout=10)
            waiting = await cli_waiting.start(room="r-7")
            for _ in range(200):
                record = await app.get_instance(waiting)
                if record is not None and record.status == InstanceStatus.WAITING_FOR_EVENT:
                    break
                await asyncio.sleep(0.02)
        yield Seeded(db, completed, failed, waiting)


async def test_list_as_a_table_and_as_json(seeded: Seeded) -> None:
    table = await edda_async("list", db=seeded.db)
    assert table.code == 0, table.err
    lines = table.out.splitlines()
    assert lines[0].split() == ["INSTANCE", "WORKFLOW", "STATUS", "STARTED", "UPDATED"]
    assert {line.split()[0] for line in lines[1:]} == {*seeded.completed, seeded.failed, seeded.waiting}

    page = (
        await edda_async("list", "--json", "--status", "completed", "--input", "customer.id=C-1", db=seeded.db)
    ).json()
    assert isinstance(page, dict) and set(page) == {"instances", "next_page_token", "has_more"}
    found = {i["instance_id"]: i for i in page["instances"]}
    assert set(found) == {seeded.completed[1], seeded.completed[3]}
    assert found[seeded.completed[3]]["input_data"] == {"n": 3, "customer": {"id": "C-1"}}
    assert found[seeded.completed[3]]["output_data"] == 6 and found[seeded.completed[3]]["status"] == "completed"

    first = (await edda_async("list", "--json", "--limit", "4", db=seeded.db)).json()
    assert isinstance(first, dict) and first["has_more"] is True and len(first["instances"]) == 4
    rest = (
        await edda_async("list", "--json", "--limit", "4", "--page-token", first["next_page_token"], db=seeded.db)
    ).json()
    assert isinstance(rest, dict) and rest["has_more"] is False and len(rest["instances"]) == 3
    ids = [i["instance_id"] for i in first["instances"] + rest["instances"]]
    assert sorted(ids) == sorted([*seeded.completed, seeded.failed, seeded.waiting])


async def test_show_and_history(seeded: Seeded) -> None:
    shown = await edda_async("show", seeded.failed, db=seeded.db)
    assert shown.code == 0 and "status:" in shown.out and "failed" in shown.out
    assert "TerminalError: card declined" in shown.out

    record = (await edda_async("show", seeded.completed[2], "--json", db=seeded.db)).json()
    assert isinstance(record, dict) and record["output_data"] == 4 and record["workflow_name"] == "cli_double"

    exported = (await edda_async("history", seeded.waiting, "--json", db=seeded.db)).json()
    assert isinstance(exported, dict) and exported["format"] == "edda.history/1"
    assert exported["instance"]["instance_id"] == seeded.waiting
    kinds = [e["event_type"] for e in exported["history"]]
    assert "ActivityCompleted" in kinds and [e["seq"] for e in exported["history"]] == sorted(
        e["seq"] for e in exported["history"]
    )
    table = await edda_async("history", seeded.waiting, db=seeded.db)
    assert table.code == 0 and table.out.splitlines()[0].split() == ["SEQ", "AT", "EVENT", "STEP", "DATA"]

    missing = await edda_async("show", "no-such-instance", db=seeded.db)
    assert missing.code == 3 and "no-such-instance" in missing.err


async def test_cancel_then_a_worker_compensates(seeded: Seeded) -> None:
    cancelled = await edda_async("cancel", seeded.waiting, db=seeded.db)
    assert cancelled.code == 0, cancelled.err
    async with EddaApp(service_name="cli-worker", db_url=seeded.db, recovery_interval=0.1) as app:
        for _ in range(300):
            record = await app.get_instance(seeded.waiting)
            if record is not None and record.status == InstanceStatus.CANCELLED:
                break
            await asyncio.sleep(0.02)
        history = await app.storage.get_history(seeded.waiting)
    assert record is not None and record.status == InstanceStatus.CANCELLED
    assert any(e.event_type == "CompensationExecuted" for e in history)
    again = await edda_async("cancel", seeded.waiting, db=seeded.db)
    assert again.code == 1 and "already finished" in again.err
    assert (await edda_async("resume", seeded.completed[0], db=seeded.db)).code == 1


async def test_outbox_list_resend_skip(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/outbox.db"
    options = OutboxOptions(max_retries=0, poll_interval=0.05)
    async with EddaApp(
        service_name="cli-outbox",
        db_url=db,
        outbox_enabled=True,
        broker_url="http://127.0.0.1:9/",
        outbox_options=options,
    ) as app:
        await app.wait_for_result(await cli_announcing.start(order="A"), timeout=10)
        for _ in range(300):
            if await app.list_outbox_events(status="failed"):
                break
            await asyncio.sleep(0.02)
    listed = (await edda_async("outbox", "list", "--json", db=db)).json()
    assert isinstance(listed, list) and [e["status"] for e in listed] == ["failed", "pending"]
    first, second = (e["event_id"] for e in listed)
    assert (await edda_async("outbox", "resend", first, db=db)).code == 0
    assert (await edda_async("outbox", "skip", second, db=db)).code == 0
    statuses = [e["status"] for e in (await edda_async("outbox", "list", "--json", db=db)).json()]  # type: ignore[union-attr]
    assert statuses == ["pending", "skipped"]
    refused = await edda_async("outbox", "skip", second, db=db)
    assert refused.code == 1 and "is skipped" in refused.err
    assert (await edda_async("outbox", "resend", "nope", db=db)).code == 3
    table = await edda_async("outbox", "list", "--status", "skipped", db=db)
    assert table.code == 0 and second in table.out and first not in table.out


def test_migrate_status_and_apply(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/fresh.db"
    status = edda("migrate", "--status", "--json", db=db)
    assert status.code == 4 and status.json() == {
        "status": "pending",
        "pending": ["0001", "0002", "0003", "0004", "0005", "0006", "0007"],
    }
    applied = edda("migrate", "--json", db=db)
    assert applied.code == 0 and applied.json() == {
        "status": "current",
        "applied": ["0001", "0002", "0003", "0004", "0005", "0006", "0007"],
    }
    assert edda("migrate", "--status", db=db).out.strip() == "the schema is current"


def test_database_from_the_environment_and_usage_errors(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/env.db"
    assert edda("migrate", env={"EDDA_DB_URL": db}).code == 0
    assert edda("list", env={"EDDA_DB_URL": db}).code == 0
    missing = edda("list")
    assert missing.code == 2 and "--db" in missing.err and "EDDA_DB_URL" in missing.err
    assert edda("list", "--started-after", "yesterday", db=db).code == 2
    bad_filter = edda("list", "--input", "no-equals-sign", db=db)
    assert bad_filter.code == 2 and "PATH=VALUE" in bad_filter.err
    unknown = edda("list", db="nosuchscheme://x")
    assert unknown.code == 2 and "nosuchscheme" in unknown.err


def test_a_password_in_the_url_is_never_printed() -> None:
    url = "postgresql://edda:s3cret-pw@127.0.0.1:9/nowhere"
    result = edda("list", db=url)
    assert result.code == 1
    assert "s3cret-pw" not in result.out + result.err and "127.0.0.1:9" in result.err


def test_a_broken_plugin_never_breaks_the_others(tmp_path: Path) -> None:
    site = tmp_path / "site"
    dist = site / "broken_plugin-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[edda.cli]\nbroken = no_such_module_anywhere:configure\n")
    (site / "greeting_plugin.py").write_text(
        textwrap.dedent(
            """
            def configure(parser):
                parser.add_argument("--name", default="world")
                return lambda args: print(f"hello {args.name}") or 0
            """
        )
    )
    (dist / "entry_points.txt").write_text(
        "[edda.cli]\nbroken = no_such_module_anywhere:configure\ngreet = greeting_plugin:configure\n"
    )
    env = {"PYTHONPATH": f"{site}{os.pathsep}{ROOT}"}
    helped = edda("--help", env=env)
    assert helped.code == 0 and "broken" in helped.out and "greet" in helped.out and "list" in helped.out
    assert edda("greet", "--name", "edda", env=env).out.strip() == "hello edda"
    broken = edda("broken", env=env)
    assert broken.code == 1 and "`broken` subcommand (from broken-plugin) failed to load" in broken.err
    assert "Traceback" not in broken.err
