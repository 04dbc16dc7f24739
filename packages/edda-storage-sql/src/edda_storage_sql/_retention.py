"""Retention operations: finding, counting and deleting finished instances past a retention period.

Statement generators like the other operations (see :mod:`._sql`). An instance is *expired* at a cutoff when it is
finished, finished before the cutoff, and has no outbox event still to send (``pending`` or ``failed``). One delete
takes up to ``limit`` of them with ``FOR UPDATE SKIP LOCKED`` on the servers (concurrent workers share the work instead
of waiting for each other; SQLite has one writer), then removes their history, subscriptions, settled outbox events
and rows in the same transaction. The instance row goes last and only if it is still finished, so an instance
reopened meanwhile (``edda resume``) keeps its history on SQLite too.

``created_at < cutoff`` repeats ``completed_at < cutoff`` in a form the ``(status, created_at)`` index can range over
(an instance finishes after it starts), so a pass reads only the instances started before the cutoff; no migration.
The delete picks rows in no particular order, so the database can stop at ``limit`` instead of sorting every candidate.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import datetime
from functools import lru_cache
from typing import Any

from edda.storage.records import BLOCKING_OUTBOX_STATUSES, FINISHED_STATUSES, InstanceRecord
from edda_storage_sql._dialects import Dialect
from edda_storage_sql._rows import INSTANCE_COLUMNS, instance_from_row
from edda_storage_sql._sql import Execute, Op, Query, Sql, Statement

__all__ = ["count_expired", "delete_expired", "find_expired"]

Steps = Generator[Statement, Any, Any]


def _in(values: frozenset[str]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in sorted(values)) + ")"


_FINISHED = _in(FINISHED_STATUSES)
_BLOCKING = _in(BLOCKING_OUTBOX_STATUSES)
_EXPIRED = (
    f"i.status IN {_FINISHED} AND i.created_at < :cutoff AND i.completed_at < :cutoff AND NOT EXISTS "
    f"(SELECT 1 FROM edda_outbox o WHERE o.instance_id = i.instance_id AND o.status IN {_BLOCKING})"
)
_FIND = Sql(
    f"SELECT {INSTANCE_COLUMNS} FROM edda_instances i WHERE {_EXPIRED} "
    "ORDER BY i.completed_at, i.instance_id LIMIT :limit"
)
_COUNT = Sql(f"SELECT COUNT(*) FROM edda_instances i WHERE {_EXPIRED}")


@lru_cache(maxsize=8)
def _pick_sql(lock_suffix: str) -> Sql:
    return Sql(f"SELECT i.instance_id FROM edda_instances i WHERE {_EXPIRED} LIMIT :limit{lock_suffix}")


@lru_cache(maxsize=64)
def _delete_sql(count: int) -> tuple[Sql, ...]:
    ids = ", ".join(f":id{i}" for i in range(count))
    return (
        Sql(f"DELETE FROM edda_history WHERE instance_id IN ({ids})"),
        Sql(f"DELETE FROM edda_channel_subscriptions WHERE instance_id IN ({ids})"),
        Sql(f"DELETE FROM edda_outbox WHERE instance_id IN ({ids}) AND status NOT IN {_BLOCKING}"),
        Sql(f"DELETE FROM edda_instances WHERE instance_id IN ({ids}) AND status IN {_FINISHED}"),
    )


def _check_limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be a positive int, got {limit!r}")
    return limit


def find_expired(d: Dialect, finished_before: datetime, limit: int) -> Op[list[InstanceRecord]]:
    """``find_expired_instances``: the earliest finished first."""
    params = {"cutoff": d.ts_in(finished_before), "limit": _check_limit(limit)}

    def steps() -> Steps:
        rows = yield Query(_FIND, params)
        return [instance_from_row(r, d) for r in rows]

    return Op(steps(), autocommit=True)


def count_expired(d: Dialect, finished_before: datetime) -> Op[int]:
    """``count_expired_instances``."""

    def steps() -> Steps:
        rows = yield Query(_COUNT, {"cutoff": d.ts_in(finished_before)})
        return int(rows[0][0])

    return Op(steps(), autocommit=True)


def delete_expired(d: Dialect, finished_before: datetime, limit: int) -> Op[int]:
    """``delete_expired_instances``: one transaction of at most ``limit`` instances."""
    params = {"cutoff": d.ts_in(finished_before), "limit": _check_limit(limit)}
    pick = _pick_sql(d.lock_suffix())

    def steps() -> Steps:
        rows = yield Query(pick, params)
        ids = sorted(str(r[0]) for r in rows)
        if not ids:
            return 0
        by_name = {f"id{i}": v for i, v in enumerate(ids)}
        *children, instances = _delete_sql(len(ids))
        for sql in children:
            yield Execute(sql, by_name)
        return int((yield Execute(instances, by_name)))

    return Op(steps())
