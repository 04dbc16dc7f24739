"""Regression tests for bugs found by the multi-process soak and chaos tests (test_multi_worker.py,
test_db_chaos.py), each reduced to a minimal reproduction; all of them are fixed.

1. Two concurrent resumes of one instance in one worker ran it twice (the check of running tasks happened before
   the claim's await, and a worker may re-claim its own lease).
2. Concurrent dead-worker checks on MySQL deadlocked (one UPDATE ... JOIN + DELETE over all workers).
3. A pooled asyncpg connection whose backend was terminated while idle failed with an unclassified
   InternalClientError, which the engine took for a workflow failure.
4. A worker whose liveness connection was lost and silently reconnected no longer held its lock and reaped itself.
5. The LISTEN connection was never re-opened after it was lost.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import text

from edda import EddaApp, StorageUnavailableError, WorkflowContext, activity, wait_event, workflow
from edda.storage import open_storage
from edda.storage.records import NewInstance, NewMessage
from tests.integration.databases import temporary_database

executions: list[str] = []


@activity
async def race_effect(ctx: WorkflowContext) -> str:
    executions.append(ctx.instance_id)  # a side effect outside the database: it must not run twice without a crash
    await asyncio.sleep(0.2)
    return "done"


@workflow
async def race_orphan(ctx: WorkflowContext) -> str:
    return await race_effect(ctx)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql", "mysql"])
async def test_two_concurrent_resumes_run_an_instance_once(kind: str, tmp_path: Path) -> None:
    executions.clear()
    async with temporary_database(kind, tmp_path) as db_url:
        async with EddaApp(service_name="race", db_url=db_url, recovery_interval=30, use_listen_notify=False) as app:
            await asyncio.sleep(0.5)  # let the app's first recovery pass go by, so only our calls claim
            now = datetime.now(UTC)
            # An instance left by a crashed worker: running, lease expired, its first activity not yet done.
            await app.storage.create_instance(
                NewInstance("orphan", "race_orphan", {}, "dead-worker", now - timedelta(seconds=5), now)
            )
            started = await asyncio.gather(app.resume_workflow("orphan"), app.resume_workflow("orphan"))
            assert await app.wait_for_result("orphan", timeout=10) == "done"
            await asyncio.sleep(0.3)  # let a second run, if any, finish its activity
        assert (sorted(started), executions) == ([False, True], ["orphan"]), (
            f"resumes started {started}; the activity ran {len(executions)} time(s)"
        )


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.mark.parametrize(
    "kind",
    [
        "postgresql",
        "mysql",
    ],
)
async def test_concurrent_dead_worker_checks_do_not_deadlock(kind: str, tmp_path: Path) -> None:
    collected = _Collect()
    logger = logging.getLogger("edda_storage_sql")
    logger.addHandler(collected)
    try:
        async with temporary_database(kind, tmp_path) as db_url:
            storages = [open_storage(db_url) for _ in range(3)]
            try:
                for n, storage in enumerate(storages):
                    await storage.initialize()
                    await storage.register_worker(f"w{n}")
                now = datetime.now(UTC)
                for i in range(30):  # live workers' instances, as in any busy deployment
                    await storages[0].create_instance(
                        NewInstance(f"i{i}", "wf", {}, f"w{i % 3}", now, now + timedelta(seconds=60))
                    )

                async def recovery_passes(n: int) -> None:
                    for _ in range(30):
                        moment = datetime.now(UTC)
                        await storages[n].claim_runnable(
                            worker_id=f"w{n}", now=moment, lease_expires_at=moment + timedelta(seconds=2), limit=10
                        )

                await asyncio.gather(*(recovery_passes(n) for n in range(3)))
            finally:
                for storage in storages:
                    await storage.close()
    finally:
        logger.removeHandler(collected)
    failed = [m for m in collected.messages if "dead workers failed" in m]
    assert not failed, f"{len(failed)} of 90 dead-worker checks failed, e.g. {failed[0][:200]}"


async def test_write_on_a_just_terminated_connection_is_storage_unavailable(tmp_path: Path) -> None:
    import asyncpg

    async with temporary_database("postgresql", tmp_path) as db_url:
        database = db_url.rsplit("/", 1)[1]
        storage = open_storage(db_url, pool_size=1)
        await storage.initialize()
        admin_url = urlsplit(db_url)
        admin = await asyncpg.connect(
            host=admin_url.hostname,
            port=admin_url.port or 5432,
            user=admin_url.username,
            password=admin_url.password,
            database=database,
        )
        unclassified: list[str] = []
        try:
            for n in range(200):  # the window is a race (about one attempt in four hits it); stop at the first hit
                now = datetime.now(UTC)
                for attempt in ("warm", "after-kill"):
                    try:
                        await storage.create_instance(
                            NewInstance(f"{attempt}-{n}", "wf", {}, "w", now, now + timedelta(seconds=5))
                        )
                    except StorageUnavailableError:
                        pass  # the documented outcome of a lost connection
                    except Exception as exc:
                        unclassified.append(f"{type(exc).__module__}.{type(exc).__name__}: {exc}")
                    if attempt == "warm":  # the pooled connection's backend dies while the connection is idle
                        await admin.execute(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = $1 AND pid <> pg_backend_pid()",
                            database,
                        )
                if unclassified:
                    break
        finally:
            await admin.close()
            await storage.close()
        assert not unclassified, f"a lost connection surfaced as {unclassified[0]}"


def _liveness_lock_sql(kind: str) -> tuple[str, str]:
    """(SQL listing (worker_id, lock held?) per registered worker, SQL killing the sessions holding the locks)."""
    if kind == "postgresql":
        here = "database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        held = (
            "SELECT w.worker_id, EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted "
            f"AND l.objid = w.lock_key::oid AND l.objsubid = 2 AND l.{here}) FROM edda_workers w"
        )
        kill = (
            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND pid <> pg_backend_pid() "
            f"AND {here}"
        )
        return held, kill
    return "SELECT worker_id, IS_USED_LOCK(lock_name) IS NOT NULL FROM edda_workers", ""


@pytest.mark.parametrize("kind", ["postgresql", "mysql"])
async def test_a_worker_whose_liveness_connection_broke_registers_again(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import edda_storage_sql._liveness as liveness

    monkeypatch.setattr(liveness, "PING_SECONDS", 0.3)  # the re-registration check runs every PING_SECONDS (30 s)
    async with temporary_database(kind, tmp_path) as db_url:
        storage = open_storage(db_url)
        await storage.initialize()
        await storage.register_worker("w-alive")
        held_sql, kill_sql = _liveness_lock_sql(kind)
        try:
            async with storage.transaction() as tx:
                before = [tuple(r) for r in await tx.session.execute(text(held_sql))]
            assert before == [("w-alive", True)]
            async with storage.transaction() as tx:  # end the session that holds the worker's lock
                if kind == "postgresql":
                    await tx.session.execute(text(kill_sql))
                else:
                    holders = await tx.session.execute(text("SELECT IS_USED_LOCK(lock_name) FROM edda_workers"))
                    for (thread_id,) in list(holders):
                        await tx.session.execute(text(f"KILL {int(thread_id)}"))
            await asyncio.sleep(0.2)
            for _ in range(3):  # recovery passes of the (alive) worker itself
                moment = datetime.now(UTC)
                await storage.claim_runnable(
                    worker_id="w-alive", now=moment, lease_expires_at=moment + timedelta(seconds=2), limit=10
                )
                await asyncio.sleep(0.1)
            await asyncio.sleep(1.5)  # several liveness pings
            async with storage.transaction() as tx:
                after = [tuple(r) for r in await tx.session.execute(text(held_sql))]
        finally:
            await storage.close()
        assert after == [("w-alive", True)], f"registrations with their lock held: {after}"


@workflow
async def listen_waiter(ctx: WorkflowContext) -> str:
    await wait_event(ctx, "findings.listen.go")
    return "ok"


async def _wake_latency(app: EddaApp, publisher: object, n: int) -> float:
    """Seconds from another process's publish of the awaited event until ``app`` has finished the instance."""
    iid = await app.start_workflow(listen_waiter, {}, instance_id=f"listen-{n}")
    while (await app.get_instance(iid)).status != "waiting_for_event":  # type: ignore[union-attr]
        await asyncio.sleep(0.01)
    began = time.monotonic()
    message = NewMessage(
        message_id=f"go-{n}", channel="findings.listen.go", data={}, metadata={}, target_instance_id=iid
    )
    _, woken = await publisher.publish(message, now=datetime.now(UTC))  # type: ignore[attr-defined]
    publisher.announce_wake(woken)  # type: ignore[attr-defined]  # what an app that cannot run it does
    assert await app.wait_for_result(iid, timeout=30) == "ok"
    return time.monotonic() - began


async def test_listen_notify_wakeups_come_back_after_the_listener_connection_is_lost(tmp_path: Path) -> None:
    import asyncpg

    async with temporary_database("postgresql", tmp_path) as db_url:
        database = db_url.rsplit("/", 1)[1]
        parts = urlsplit(db_url)
        publisher = open_storage(db_url)  # another process's storage: it announces what it published
        await publisher.initialize()
        admin = await asyncpg.connect(
            host=parts.hostname,
            port=parts.port or 5432,
            user=parts.username,
            password=parts.password,
            database=database,
        )
        try:
            async with EddaApp(service_name="listener", db_url=db_url, recovery_interval=5) as app:
                await asyncio.sleep(0.5)
                before = await _wake_latency(app, publisher, 1)
                assert before < 1.0, f"no NOTIFY wake-up even before the kill ({before:.2f} s)"
                killed = await admin.fetchval(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = $1 AND query LIKE 'LISTEN%'",
                    database,
                )
                assert killed == 1
                await asyncio.sleep(1.0)  # time to notice and listen again
                after = await _wake_latency(app, publisher, 2)
        finally:
            await admin.close()
            await publisher.close()
        assert after < 1.0, f"wake-up took {after:.2f} s after the LISTEN connection was lost (was {before:.3f} s)"
