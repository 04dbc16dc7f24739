"""PostgreSQL: keep the planner's statistics of Edda's tables current, also where autovacuum does not.

asyncpg prepares every statement, and PostgreSQL keeps a prepared statement's plan until the statistics of its tables
change. Plans made on a new database, when the tables were empty, read whole tables once they hold 100,000 rows: the
claim of due timers, the next-timer query and the reap of dead workers became sequential scans of 10-30 ms each, and
1 s timers among 100,000 parked instances were late by p99 0.5-1 s (benchmarks/README.md, W8). Autovacuum's ANALYZE
replaces those plans, but only about a minute after a table has grown, and not at all where autovacuum is turned off
(as on some development and CI servers).

So a worker looks every :data:`CHECK_EVERY_SECONDS` (from its recovery passes) at ``pg_stat_user_tables``, and runs
``ANALYZE`` on each Edda table changed by more than autovacuum's own analyze threshold
(``autovacuum_analyze_threshold + autovacuum_analyze_scale_factor * rows``) since its last analyze: what autovacuum
would do, sooner. One worker at a time (a transaction-level advisory lock; the others skip), only on tables the
connecting role may analyze, and a failure is logged and retried at the next look. ANALYZE reads a sample of the table
(30,000 rows at most by default) and blocks no reads or writes.

Dead rows are another matter: only VACUUM reclaims them, and Edda does not run it (it cannot run in a transaction
and competes with the DBA's own maintenance). Where autovacuum is off, the first look says so (a warning, once per
process that runs workflows).
"""

from __future__ import annotations

import logging
import time
from typing import Any

__all__ = ["CHECK_EVERY_SECONDS", "EDDA_TABLES", "STATISTICS_LOCK", "PlannerStatistics"]

logger = logging.getLogger("edda_storage_sql")

CHECK_EVERY_SECONDS = 10.0
EDDA_TABLES = (
    "edda_instances",
    "edda_history",
    "edda_channel_subscriptions",
    "edda_channel_messages",
    "edda_outbox",
)
# 'EDDA' << 32 | 3, a single bigint key: never equal to a worker's liveness lock (two int4 keys, 'EDDA' and its own).
STATISTICS_LOCK = 1162101825 * 2**32 + 3
_LOCK = f"SELECT pg_try_advisory_xact_lock({STATISTICS_LOCK})"
# The tables (resolved through the search path, as Edda's own statements are) changed by more than autovacuum's
# analyze threshold since their last analyze, that this role may analyze (their owner, or a member of its role).
_STALE = (
    "SELECT CAST(CAST(c.oid AS regclass) AS text) FROM pg_class c JOIN pg_stat_user_tables s ON s.relid = c.oid "
    "WHERE c.oid = ANY(ARRAY(SELECT to_regclass(t) FROM unnest(CAST($1 AS text[])) AS t)) "
    "AND pg_has_role(c.relowner, 'USAGE') "
    "AND s.n_mod_since_analyze > CAST(current_setting('autovacuum_analyze_threshold') AS float8) "
    "+ CAST(current_setting('autovacuum_analyze_scale_factor') AS float8) * GREATEST(c.reltuples, s.n_live_tup, 0) "
    "ORDER BY 1"
)


class PlannerStatistics:
    """When to look, and the look itself (on a raw asyncpg connection)."""

    def __init__(self, where: str, every: float = CHECK_EVERY_SECONDS) -> None:
        self.every = every
        self._where = where  # the database, as error messages name it (never its URL)
        self._checked_autovacuum = False
        self._last = time.monotonic()  # the first look one interval after start-up (a new database is empty)
        self.analyzed: list[str] = []  # the tables analyzed by the last look (for tests and logs)
        self.failing = False  # the last look failed (its warning is not repeated at every look)

    def due(self) -> bool:
        """Whether a look is due; if so, the next one is an interval away."""
        now = time.monotonic()
        if now - self._last < self.every:
            return False
        self._last = now
        return True

    async def refresh(self, driver: Any) -> list[str]:
        """Analyze the stale Edda tables, unless another worker is at it. Returns the tables analyzed."""
        if not self._checked_autovacuum:
            self._checked_autovacuum = True
            await _warn_if_autovacuum_off(driver, self._where)
        analyzed: list[str] = []
        async with driver.transaction():
            if await driver.fetchval(_LOCK):
                for (table,) in await driver.fetch(_STALE, list(EDDA_TABLES)):
                    await driver.execute(f"ANALYZE {table}")  # a regclass name: quoted where it needs it
                    analyzed.append(table)
        if analyzed:
            logger.debug("Refreshed the planner statistics of %s", ", ".join(analyzed))
        self.analyzed = analyzed
        return analyzed


async def _warn_if_autovacuum_off(driver: Any, where: str) -> bool:
    """Log a warning if the server runs without autovacuum; returns whether it does."""
    if await driver.fetchval("SELECT current_setting('autovacuum')") != "off":
        return False
    logger.warning(
        "Autovacuum is off on the %s. Edda refreshes the planner statistics of its tables itself, but their dead "
        "rows (every update leaves one) are reclaimed only by VACUUM: turn autovacuum on (the default), or run "
        "VACUUM on the edda_* tables regularly.",
        where,
    )
    return True
