"""PostgreSQL query plans: the lookups of one subscription read one row, even with plans made while the table was
empty; and a worker refreshes the planner statistics of its tables (and so their plans) when autovacuum has not.

asyncpg prepares every statement, and PostgreSQL keeps a prepared statement's generic plan until the table's statistics
change (autovacuum analyzes a growing table about once a minute). A plan made on a new database, when both the primary
key and a channel index looked equally cheap, used to pick the channel index: each lookup of an instance's subscription
then read every subscription of its channel, and parking 10,000 waiters on one event type slowed from 660 to 280
starts/s (benchmarks/README.md, W8). Migration 0007 makes the channel indexes partial so no point lookup can match them.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from edda_storage_sql import _channels
from edda_storage_sql._sql import Sql

from .conftest import _pg_admin, fresh_database, open_storage, server_url

pytestmark = pytest.mark.postgres

ROWS = 20_000
CHANNEL = "order.paid"

# Each statement that names one subscription, with the arguments it is run with.
POINT_LOOKUPS: dict[str, tuple[Sql, dict[str, Any]]] = {
    "get": (_channels._GET_SUBSCRIPTION, {}),
    "target_waiting": (_channels._TARGET_WAITING, {}),
    "set_waiting": (_channels._SET_WAITING, {"waiting_since": None}),
    "advance_cursor": (_channels._ADVANCE_CURSOR, {"seq": 7}),
    "reset": (_channels._RESET_SUBSCRIPTION, {"mode": "broadcast", "cursor_seq": 0}),
    "delete": (_channels._DELETE_SUBSCRIPTION, {}),
}


def _plan_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _plan_nodes(child)


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    server_url("postgresql")
    with fresh_database("postgresql") as url:
        yield url


async def test_subscription_lookups_use_the_primary_key_with_plans_made_on_an_empty_table(postgres_url: str) -> None:
    import asyncpg
    from sqlalchemy import make_url

    storage = await open_storage(postgres_url)  # applies every migration
    await storage.close()
    conn = await asyncpg.connect(_pg_admin(make_url(postgres_url)))
    try:
        await conn.execute("SET plan_cache_mode = force_generic_plan")
        for name, (sql, extra) in POINT_LOOKUPS.items():
            text, names = sql.dollar()
            await conn.execute(f"PREPARE {name} AS {text}")
            args = {"instance_id": "nobody", "channel": CHANNEL, **extra}
            # The first execution builds the generic plan, while the table is empty; the statement keeps it.
            await conn.execute(f"EXECUTE {name}({', '.join(_literal(args[n]) for n in names)})")
        await conn.execute(
            "INSERT INTO edda_channel_subscriptions (instance_id, channel, mode, cursor_seq, waiting_since) "
            "SELECT 'wf-' || g, $1, 'broadcast', 0, now() FROM generate_series(1, $2) AS g",
            CHANNEL,
            ROWS,
        )
        for name, (sql, extra) in POINT_LOOKUPS.items():
            _, names = sql.dollar()
            args = {"instance_id": f"wf-{ROWS // 2}", "channel": CHANNEL, **extra}
            changes = conn.transaction()  # EXPLAIN ANALYZE runs the statement: undo what it changes
            await changes.start()
            try:
                raw = await conn.fetchval(
                    f"EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE {name}({', '.join(_literal(args[n]) for n in names)})"
                )
            finally:
                await changes.rollback()
            plan = json.loads(raw)[0]["Plan"]
            scans = [
                node
                for node in _plan_nodes(plan)
                if node.get("Relation Name") == "edda_channel_subscriptions" and "Scan" in node["Node Type"]
            ]
            assert scans, f"{name}: no scan of edda_channel_subscriptions in {plan}"
            for node in scans:
                assert node.get("Index Name") == "edda_channel_subscriptions_pkey", (name, node)
                assert node.get("Rows Removed by Filter", 0) == 0, (name, node)
    finally:
        await conn.close()


async def test_the_questions_asked_by_channel_have_their_partial_indexes(postgres_url: str) -> None:
    """Who waits on a channel and which mode it has are still answered from an index, not by reading the table."""
    import asyncpg
    from sqlalchemy import make_url

    storage = await open_storage(postgres_url)
    await storage.close()
    conn = await asyncpg.connect(_pg_admin(make_url(postgres_url)))
    try:
        # Many subscriptions of other channels, few of this one: an index is the only sensible plan.
        await conn.execute(
            "INSERT INTO edda_channel_subscriptions (instance_id, channel, mode, cursor_seq, waiting_since) "
            "SELECT 'wf-' || g, 'other-' || (g % 100), 'broadcast', 0, now() FROM generate_series(1, $1) AS g",
            ROWS,
        )
        await conn.execute(
            "INSERT INTO edda_channel_subscriptions (instance_id, channel, mode, cursor_seq, waiting_since) "
            "VALUES ('a', $1, 'broadcast', 0, now()), ('b', $1, 'broadcast', 0, NULL)",
            CHANNEL,
        )
        await conn.execute("ANALYZE edda_channel_subscriptions")
        expected = {
            _channels._WAITING_SUBSCRIBERS: "edda_channel_subscriptions_waiting",
            _channels._CHANNEL_MODE: "edda_channel_subscriptions_shared",
        }
        for sql, index in expected.items():
            text, names = sql.dollar()
            raw = await conn.fetchval(f"EXPLAIN (FORMAT JSON) {text}", *[CHANNEL for _ in names])
            indexes = {node.get("Index Name") for node in _plan_nodes(json.loads(raw)[0]["Plan"])}
            assert index in indexes, (sql, indexes)
        waiting = await conn.fetch(_channels._WAITING_SUBSCRIBERS.dollar()[0], CHANNEL)
        assert [row["instance_id"] for row in waiting] == ["a"]
    finally:
        await conn.close()


# -- statistics: a worker refreshes them when autovacuum has not ------------------------------------------------------


async def _scan_of_next_wake(conn: Any) -> set[str]:
    raw = await conn.fetchval("EXPLAIN (FORMAT JSON) EXECUTE next_wake")
    return {node["Node Type"] for node in _plan_nodes(json.loads(raw)[0]["Plan"])}


async def _last_analyzed(conn: Any, table: str) -> tuple[Any, int]:
    row = await conn.fetchrow(
        "SELECT GREATEST(last_analyze, last_autoanalyze) AS at, n_mod_since_analyze AS mods FROM pg_stat_user_tables "
        "WHERE relname = $1",
        table,
    )
    return row["at"], int(row["mods"])


async def _stats_settled(conn: Any, table: str, mods: int) -> None:
    """Wait until the server's statistics counters show ``mods`` changes of ``table`` (they are flushed lazily)."""
    for _ in range(200):
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        if (await _last_analyzed(conn, table))[1] >= mods:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the statistics counters of {table} never reached {mods} changes")


async def test_a_worker_refreshes_stale_statistics_and_stale_plans_go(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    import asyncpg
    from sqlalchemy import make_url

    storage = await open_storage(postgres_url)
    conn = await asyncpg.connect(_pg_admin(make_url(postgres_url)))
    try:
        # A plan made while the table is empty (as a service's first statements are), kept by the prepared statement.
        await conn.execute(f"PREPARE next_wake AS {_channels._NEXT_WAKE.text}")
        await conn.execute("EXECUTE next_wake")
        assert "Seq Scan" in await _scan_of_next_wake(conn)
        await conn.execute(
            "INSERT INTO edda_instances (instance_id, workflow_name, status, input_data, created_at, updated_at, "
            "lease_epoch, wake_at) SELECT 'wf-' || g, 'napper', 'waiting_for_timer', '{}', now(), now(), 1, "
            "now() + interval '1 hour' FROM generate_series(1, $1) AS g",
            ROWS,
        )
        await _stats_settled(conn, "edda_instances", ROWS)
        assert (await _last_analyzed(conn, "edda_instances"))[0] is None  # nobody analyzed it (autovacuum is late)

        statistics = storage._executor.statistics  # type: ignore[attr-defined]
        assert statistics is not None
        statistics.every = 0.0  # look at the next recovery pass
        now = datetime.now(UTC)
        with caplog.at_level(logging.WARNING, logger="edda_storage_sql"):
            await storage.claim_runnable(worker_id="w1", now=now, lease_expires_at=now + timedelta(seconds=30), limit=1)
            for _ in range(200):  # the look runs beside the pass
                if statistics.analyzed:
                    break
                await asyncio.sleep(0.05)
        assert "edda_instances" in statistics.analyzed
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        analyzed_at, mods = await _last_analyzed(conn, "edda_instances")
        assert analyzed_at is not None and mods == 0
        # The prepared statement's plan went with the old statistics: an index now, not a scan of 20,000 rows.
        assert "Seq Scan" not in await _scan_of_next_wake(conn)
        autovacuum_off = await conn.fetchval("SELECT current_setting('autovacuum')") == "off"
        warned = [r for r in caplog.records if "Autovacuum is off" in r.getMessage()]
        assert len(warned) == (1 if autovacuum_off else 0)
        if warned:
            assert postgres_url not in warned[0].getMessage()

        # Nothing changed since: the next look analyzes nothing (the threshold is autovacuum's own).
        await statistics.refresh(conn)
        assert statistics.analyzed == []
    finally:
        await conn.close()
        await storage.close()


async def test_one_worker_at_a_time_refreshes_statistics(postgres_url: str) -> None:
    import asyncpg
    from sqlalchemy import make_url

    from edda_storage_sql._statistics import STATISTICS_LOCK, PlannerStatistics

    storage = await open_storage(postgres_url)
    await storage.close()
    url = _pg_admin(make_url(postgres_url))
    holder, looker = await asyncpg.connect(url), await asyncpg.connect(url)
    try:
        await holder.execute(
            "INSERT INTO edda_channel_subscriptions (instance_id, channel, mode, cursor_seq) "
            "SELECT 'wf-' || g, 'c', 'broadcast', 0 FROM generate_series(1, 1000) AS g"
        )
        await _stats_settled(holder, "edda_channel_subscriptions", 1000)
        statistics = PlannerStatistics("the test database")
        busy = holder.transaction()
        await busy.start()
        await holder.execute("SELECT pg_advisory_xact_lock($1)", STATISTICS_LOCK)  # another worker's look
        assert await statistics.refresh(looker) == []
        await busy.rollback()
        assert await statistics.refresh(looker) == ["edda_channel_subscriptions"]
    finally:
        await holder.close()
        await looker.close()
