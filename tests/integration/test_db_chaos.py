"""Three worker processes run workflows while every database connection to their database is killed every ~2 s, and
while the database server itself is restarted.

PostgreSQL: ``pg_terminate_backend`` on every backend of the test database; MariaDB/MySQL: ``KILL`` on every
connection whose ``db`` is the test database. The test process's own connections are killed too (its driver
retries). The workload is that of the soak test (activities, sleeps, addressed and broadcast events, a competing
channel with recurring consumers), started by the workers over the chaos period so that work is in flight all along.

- ``test_workflows_survive_killed_connections``: the kills only. Short form (default, CI): 200 workflows, ~20 s of
  chaos. Long form (``EDDA_CHAOS_FULL=1``): 2,000 workflows, ~60 s.
- ``test_workflows_survive_server_restarts``: the kills, and the server restarted in the middle (PostgreSQL with
  ``pg_ctlcluster``, MariaDB stopped gracefully and started again; see ``db_servers.py``). Short form: 100
  workflows, one restart. Long form: 1,000 workflows, three restarts. Each restart is asserted: the command
  succeeded, the server's own start time changed, and an Edda storage read during the restart got
  ``StorageUnavailableError`` and no other error, then answered again. Where this process cannot restart the
  server (not root, not this machine's server, tools missing) the test is skipped with the reason in capitals, and
  the reason goes to the report. The servers are always left running.

Checks: every workflow completes with its expected result, every activity effect happened exactly once, every job
on the competing channel was processed exactly once. Figures are printed (run with ``-s``);
``EDDA_CHAOS_REPORT=path`` appends them as JSON lines.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from edda import StorageUnavailableError
from tests.integration.databases import ENV, HOW_TO, temporary_database
from tests.integration.db_servers import Restart, Server, server_for
from tests.integration.soak_plan import build_plan
from tests.integration.soak_support import (
    Driver,
    Outcome,
    all_instances,
    check_outcome,
    client_app,
    kill_all,
    prepare_database,
    progress,
    read_effects,
    retrying,
    start_workers,
    wait_until_finished,
)

FULL = os.environ.get("EDDA_CHAOS_FULL") == "1"
WORKFLOWS = 2000 if FULL else 200
RESTART_WORKFLOWS = 1000 if FULL else 100
RESTART_AT = (0.25, 0.5, 0.75) if FULL else (0.5,)  # fractions of the chaos period; CI restarts each server once
CONSUMERS = 10 if FULL else 5
CHAOS_SECONDS = 60.0 if FULL else 20.0
ROUND_EVERY = 2.0
WORKERS = 3


# -- killing connections ---------------------------------------------------------------------------------------------


class PostgresKiller:
    """Terminates every backend connected to ``database`` from an admin connection to another database."""

    def __init__(self, base_url: str, database: str) -> None:
        self.parts = urlsplit(base_url)
        self.database = database
        self.conn: object | None = None

    async def _connect(self) -> object:
        import asyncpg

        p = self.parts
        return await asyncpg.connect(
            host=p.hostname or "127.0.0.1",
            port=p.port or 5432,
            user=p.username,
            password=p.password,
            database=(p.path or "/postgres")[1:] or "postgres",
            timeout=10,
        )

    async def kill_round(self) -> int:
        if self.conn is None:
            self.conn = await self._connect()
        try:
            rows = await self.conn.fetch(  # type: ignore[attr-defined]
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                self.database,
            )
        except Exception:
            await self.close()  # e.g. the server restarted under us: reconnect next round
            raise
        return sum(1 for r in rows if r[0])

    async def close(self) -> None:
        if self.conn is not None:
            conn, self.conn = self.conn, None
            try:
                await conn.close(timeout=5)  # type: ignore[attr-defined]
            except Exception:
                pass


class MysqlKiller:
    """``KILL``s every connection whose current database is ``database``."""

    def __init__(self, base_url: str, database: str) -> None:
        self.parts = urlsplit(base_url)
        self.database = database
        self.conn: object | None = None

    async def kill_round(self) -> int:
        import aiomysql

        p = self.parts
        if self.conn is None:
            self.conn = await aiomysql.connect(
                host=p.hostname or "127.0.0.1",
                port=p.port or 3306,
                user=p.username or "root",
                password=p.password or "",
                autocommit=True,
                connect_timeout=10,
            )
        killed = 0
        async with self.conn.cursor() as cur:  # type: ignore[attr-defined]
            await cur.execute(
                "SELECT id FROM information_schema.PROCESSLIST WHERE db = %s AND id <> CONNECTION_ID()",
                (self.database,),
            )
            for (thread_id,) in await cur.fetchall():
                try:
                    await cur.execute(f"KILL {int(thread_id)}")
                    killed += 1
                except aiomysql.OperationalError:  # 1094 unknown thread id: it ended meanwhile
                    pass
        return killed

    async def close(self) -> None:
        if self.conn is not None:
            conn, self.conn = self.conn, None
            conn.close()  # type: ignore[attr-defined]


# -- the databases and the chaos -----------------------------------------------------------------------------------


@asynccontextmanager
async def chaos_database(kind: str, tmp_path: Path, server: Server | None) -> AsyncIterator[str]:
    """Like ``databases.temporary_database``; when the server is restarted (``server``), the database is created and
    dropped on connections of their own (the one that created it does not survive a restart), and the server is
    started first if it is down."""
    if server is None:
        async with temporary_database(kind, tmp_path) as url:
            yield url
        return
    name = f"edda_it_{secrets.token_hex(6)}"
    quoted = f'"{name}"' if kind == "postgresql" else f"`{name}`"
    await server.execute(f"CREATE DATABASE {quoted}")
    try:
        p = server.parts
        yield urlunsplit((p.scheme, p.netloc, "/" + name, p.query, p.fragment))
    finally:
        await server.ensure_running()
        await server.execute(f"DROP DATABASE IF EXISTS {quoted}" + (" WITH (FORCE)" if kind == "postgresql" else ""))


@dataclass
class ChaosStats:
    rounds: int = 0
    connections_killed: int = 0
    round_errors: int = 0
    restarts: list[Restart] = field(default_factory=list)
    # What an Edda storage of its own saw while each server restart went on: StorageUnavailableError raised, and
    # other exceptions by type (a raw driver error here would be a lost connection left unclassified).
    probe_unavailable: list[int] = field(default_factory=list)
    probe_other: Counter[str] = field(default_factory=Counter[str])


async def probe(storage: Any, stop: asyncio.Event, stats: ChaosStats) -> None:
    """Read through an Edda storage every 50 ms until ``stop``; count how each read failed."""
    unavailable = 0
    while not stop.is_set():
        try:
            await storage.get_instance("probe")
        except StorageUnavailableError:
            unavailable += 1
        except Exception as exc:
            stats.probe_other[f"{type(exc).__module__}.{type(exc).__name__}"] += 1
        await asyncio.sleep(0.05)
    stats.probe_unavailable.append(unavailable)


async def restart_watched(server: Server, storage: Any, stats: ChaosStats) -> None:
    """Restart the server while ``probe`` reads through ``storage``; then the storage must answer again."""
    stop = asyncio.Event()
    watcher = asyncio.create_task(probe(storage, stop, stats))
    try:
        stats.restarts.append(await server.restart())
    finally:
        stop.set()
        await watcher
    await retrying(lambda: storage.get_instance("probe"))


async def chaos(
    killer: PostgresKiller | MysqlKiller,
    stats: ChaosStats,
    server: Server | None,
    restart_at: tuple[float, ...],
    storage: Any = None,
) -> None:
    """Kill every connection every ROUND_EVERY seconds for CHAOS_SECONDS; restart the server at the given fractions
    of that time, watched through ``storage``."""
    began = time.monotonic()
    pending = sorted(restart_at)
    while time.monotonic() - began < CHAOS_SECONDS:
        await asyncio.sleep(ROUND_EVERY)
        if server is not None and pending and time.monotonic() - began >= pending[0] * CHAOS_SECONDS:
            pending.pop(0)
            await killer.close()
            await restart_watched(server, storage, stats)
            continue
        try:
            stats.connections_killed += await killer.kill_round()
            stats.rounds += 1
        except Exception:
            stats.round_errors += 1


def report(figures: dict[str, object]) -> None:
    """Print the figures; with EDDA_CHAOS_REPORT=path, append them there as a JSON line (the long form's record)."""
    print(f"\n{json.dumps(figures)}")
    path = os.environ.get("EDDA_CHAOS_REPORT")
    if path:
        with open(path, "a") as fh:
            fh.write(json.dumps(figures) + "\n")


async def run_chaos(
    kind: str, tmp_path: Path, *, workflows: int, server: Server | None = None, restart_at: tuple[float, ...] = ()
) -> dict[str, object]:
    """The workload on three worker processes under chaos; checks its outcome and returns the figures."""
    plan = build_plan(workflows, CONSUMERS)
    base_url = os.environ[ENV[kind]]
    async with chaos_database(kind, tmp_path, server) as db_url:
        database = urlsplit(db_url).path.lstrip("/")
        killer: PostgresKiller | MysqlKiller = (
            PostgresKiller(base_url, database) if kind == "postgresql" else MysqlKiller(base_url, database)
        )
        await prepare_database(db_url)
        stats = ChaosStats()
        began = time.monotonic()
        workers = start_workers(
            db_url, tmp_path, workers=WORKERS, count=workflows, consumers=CONSUMERS, spread=CHAOS_SECONDS * 0.75
        )
        driver_task: asyncio.Task[None] | None = None
        chaos_task: asyncio.Task[None] | None = None
        try:
            async with client_app(db_url) as app:
                for w in workers:
                    await w.started()
                driver = Driver(app, plan, period=0.25 if FULL else 0.1)
                driver_task = asyncio.create_task(driver.run())
                chaos_task = asyncio.create_task(chaos(killer, stats, server, restart_at, app.storage))
                await chaos_task
                for w in workers:
                    assert w.proc.poll() is None, f"worker {w.index} died:\n{w.stderr_tail()}"
                    await w.wait_for_line("STARTED", 120)
                finished_at = await wait_until_finished(driver, driver_task, timeout=150)
                instances = await retrying(lambda: all_instances(app))
                effects = await retrying(lambda: read_effects(app))
                outcome = check_outcome(plan, instances, effects)
            logged = [dict(w.warnings()) for w in workers]
            for w in workers:
                assert w.stop() == 0, f"worker {w.index} did not shut down cleanly:\n{w.stderr_tail()}"
        finally:
            for task in (chaos_task, driver_task):
                if task is not None and not task.done():
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
            kill_all(workers)
            await killer.close()
    # A workflow that failed because a lost connection escaped the storage as a raw driver error (bug 3 of
    # test_multiprocess_findings.py, fixed) would show here.
    assert not outcome.driver_failures, (
        f"{len(outcome.driver_failures)} workflow(s) failed with a raw driver error after a killed connection"
        f" ({outcome.jobs_lost_to_driver_failures} jobs lost with them), e.g."
        f" {next(iter(outcome.driver_failures.items()))}"
    )
    return figures_of(kind, outcome, stats, driver, progress(instances), logged) | {
        "all_done_after": round(finished_at - began, 1)
    }


def figures_of(
    kind: str, outcome: Outcome, stats: ChaosStats, driver: Driver, final: Counter[str], logged: list[dict[str, int]]
) -> dict[str, object]:
    return {
        "database": kind,
        "workflows": outcome.instances,
        "effects": outcome.effects,
        "jobs": outcome.jobs,
        "kill_rounds": stats.rounds,
        "connections_killed": stats.connections_killed,
        "failed_rounds": stats.round_errors,
        "restarts": [
            {"seconds": round(r.seconds, 1), "happened": r.happened, "storage_unavailable": n}
            for r, n in zip(stats.restarts, stats.probe_unavailable, strict=True)
        ],
        "restart_raw_errors": dict(stats.probe_other),
        "chaos_seconds": CHAOS_SECONDS,
        "driver_unavailable": driver.unavailable,
        "driver_unclassified": dict(driver.unclassified),
        "worker_logs": logged,
        "final": dict(final),
    }


# -- the tests -------------------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(300 if FULL else 180)
@pytest.mark.parametrize("kind", ["postgresql", "mysql"])
async def test_workflows_survive_killed_connections(kind: str, tmp_path: Path) -> None:
    if not os.environ.get(ENV[kind]):
        pytest.skip(HOW_TO[kind])
    figures = await run_chaos(kind, tmp_path, workflows=WORKFLOWS)
    report({"test": "killed connections"} | figures)
    assert figures["kill_rounds"] >= CHAOS_SECONDS / ROUND_EVERY / 2, figures  # type: ignore[operator]
    assert figures["connections_killed"] > 0, figures  # type: ignore[operator]


@pytest.mark.slow
@pytest.mark.servers  # restarts the servers every other test uses: deselected by default, run alone (pyproject)
@pytest.mark.timeout(420 if FULL else 240)
@pytest.mark.parametrize("kind", ["postgresql", "mysql"])
async def test_workflows_survive_server_restarts(kind: str, tmp_path: Path) -> None:
    base_url = os.environ.get(ENV[kind])
    if not base_url:
        pytest.skip(HOW_TO[kind])
    server = server_for(kind, base_url)
    reason = await server.why_not()
    if reason is not None:
        report({"test": "server restarts", "database": kind, "not_run": reason})
        pytest.skip(f"THE {kind.upper()} SERVER CANNOT BE RESTARTED HERE, so this restart test did not run: {reason}")
    try:
        figures = await run_chaos(kind, tmp_path, workflows=RESTART_WORKFLOWS, server=server, restart_at=RESTART_AT)
    finally:
        await server.ensure_running()  # whatever happened, the server is left running for everyone else
    report({"test": "server restarts"} | figures)
    restarts = figures["restarts"]
    assert isinstance(restarts, list) and len(restarts) == len(RESTART_AT), figures
    assert all(r["happened"] for r in restarts), f"the server's start time did not change: {restarts}"
    # While the server was down, Edda's storage said so with StorageUnavailableError, and with nothing else.
    assert all(r["storage_unavailable"] > 0 for r in restarts), f"no read failed during a restart: {restarts}"
    assert not figures["restart_raw_errors"], f"a restart surfaced unclassified errors: {figures['restart_raw_errors']}"
