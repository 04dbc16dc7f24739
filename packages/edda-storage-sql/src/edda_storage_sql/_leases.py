"""Lease operations: claiming one instance or the runnable ones, renewing and releasing leases.

Statement generators like the other operations (see :mod:`._sql`). A claim bumps the lease epoch, which fences off
the previous owner's writes (see :mod:`._commit`). Where a dialect has no ``RETURNING`` on ``UPDATE`` (MySQL) a
claim locks the rows with ``SELECT ... FOR UPDATE`` first and computes the returned records itself.
"""

from __future__ import annotations

from collections.abc import Collection, Generator
from dataclasses import replace
from datetime import datetime
from functools import lru_cache
from typing import Any

from edda.storage.records import ACTIVE_STATUSES, FINISHED_STATUSES, Fence, InstanceRecord
from edda_storage_sql._dialects import Dialect, to_utc
from edda_storage_sql._rows import INSTANCE_COLUMNS, instance_from_row, workflow_name_filter, workflow_name_params
from edda_storage_sql._sql import Execute, Op, Query, Sql, Statement

__all__ = ["claim_instance", "claim_runnable", "release_foreign_leases", "renew_leases"]

Steps = Generator[Statement, Any, Any]

_FINISHED = "(" + ", ".join(f"'{s}'" for s in sorted(FINISHED_STATUSES)) + ")"
_ACTIVE = "(" + ", ".join(f"'{s}'" for s in sorted(ACTIVE_STATUSES)) + ")"
_RUNNABLE = (
    f"status NOT IN {_FINISHED}"
    " AND (owner_id IS NULL OR lease_expires_at IS NULL OR lease_expires_at <= :now)"
    f" AND (status IN {_ACTIVE} OR cancel_requested = TRUE OR wake_at <= :now)"
)
_CLAIM_SET = (
    "owner_id = :worker_id, lease_epoch = lease_epoch + 1, lease_expires_at = :lease_expires_at, updated_at = :now"
)

_SELECT_INSTANCE_FOR_UPDATE = Sql(
    f"SELECT {INSTANCE_COLUMNS} FROM edda_instances WHERE instance_id = :instance_id FOR UPDATE"
)
_CLAIM_ONE = Sql(
    f"UPDATE edda_instances SET {_CLAIM_SET} WHERE instance_id = :instance_id AND status NOT IN {_FINISHED}"
    " AND (owner_id IS NULL OR owner_id = :worker_id OR lease_expires_at IS NULL OR lease_expires_at <= :now)"
    f" RETURNING {INSTANCE_COLUMNS}"
)
_RELEASE_FOREIGN = Sql(
    "UPDATE edda_instances SET owner_id = NULL, lease_expires_at = NULL "
    "WHERE owner_id IS NOT NULL AND owner_id <> :worker_id"
)
_RENEW_ONE = Sql(
    "UPDATE edda_instances SET lease_expires_at = :lease_expires_at "
    "WHERE instance_id = :instance_id AND owner_id = :worker_id AND lease_epoch = :epoch"
)
_RENEW_MANY_PG = Sql(
    "UPDATE edda_instances AS i SET lease_expires_at = :lease_expires_at "
    "FROM unnest(CAST(:ids AS text[]), CAST(:workers AS text[]), CAST(:epochs AS bigint[])) AS f(instance_id, "
    "worker_id, epoch) WHERE i.instance_id = f.instance_id AND i.owner_id = f.worker_id AND i.lease_epoch = f.epoch "
    "RETURNING i.instance_id"
)

_MYSQL_CHUNK = 500


def _claimable(record: InstanceRecord, worker_id: str, now: datetime) -> bool:
    if record.is_finished:
        return False
    if record.owner_id in (None, worker_id) or record.lease_expires_at is None:
        return True
    return record.lease_expires_at <= now


def claim_instance(
    d: Dialect, instance_id: str, worker_id: str, now: datetime, lease_expires_at: datetime
) -> Op[InstanceRecord | None]:
    params = {
        "instance_id": instance_id,
        "worker_id": worker_id,
        "now": d.ts_in(now),
        "lease_expires_at": d.ts_in(lease_expires_at),
    }
    if d.returning:

        def steps() -> Steps:
            rows = yield Query(_CLAIM_ONE, params)
            return instance_from_row(rows[0], d) if rows else None

        return Op(steps(), autocommit=True)

    def locking_steps() -> Steps:
        rows = yield Query(_SELECT_INSTANCE_FOR_UPDATE, {"instance_id": instance_id})
        if not rows:
            return None
        record = instance_from_row(rows[0], d)
        if not _claimable(record, worker_id, to_utc(now)):
            return None
        yield Execute(_claim_in_sql(1), {**params, "id0": instance_id})
        return _taken(record, worker_id, now, lease_expires_at)

    return Op(locking_steps())


def _taken(record: InstanceRecord, worker_id: str, now: datetime, lease_expires_at: datetime) -> InstanceRecord:
    return replace(
        record,
        owner_id=worker_id,
        lease_epoch=record.lease_epoch + 1,
        lease_expires_at=to_utc(lease_expires_at),
        updated_at=to_utc(now),
    )


@lru_cache(maxsize=64)
def _claim_in_sql(count: int) -> Sql:
    ids = ", ".join(f":id{i}" for i in range(count))
    return Sql(f"UPDATE edda_instances SET {_CLAIM_SET} WHERE instance_id IN ({ids})")


@lru_cache(maxsize=64)
def _claim_runnable_sql(lock_suffix: str, names: int | None) -> Sql:
    return Sql(
        f"UPDATE edda_instances SET {_CLAIM_SET} WHERE instance_id IN (SELECT instance_id FROM edda_instances "
        f"WHERE {_RUNNABLE}{workflow_name_filter(names)} ORDER BY COALESCE(wake_at, updated_at), instance_id "
        f"LIMIT :limit{lock_suffix}) RETURNING {INSTANCE_COLUMNS}"
    )


# SQLite: the OR of _RUNNABLE defeats its indexes, so a pass would read every unfinished row (100,000 parked ones:
# ~30 ms a pass, and timers due among them were late by several passes). Three disjoint parts instead, each read
# through an index: due by time (the partial index on wake_at), needing a worker (status), cancel requested (0006).
# PostgreSQL combines the indexes of the OR by itself (a bitmap OR: 0.15 ms a pass over 100,000 parked instances).
_FREE = "(owner_id IS NULL OR lease_expires_at IS NULL OR lease_expires_at <= :now)"
_NOT_DUE = "(wake_at IS NULL OR wake_at > :now)"


@lru_cache(maxsize=64)
def _sqlite_claim_runnable_sql(names: int | None) -> Sql:
    of = workflow_name_filter(names)
    candidates = (
        f"SELECT * FROM (SELECT instance_id, wake_at AS due FROM edda_instances WHERE wake_at <= :now "
        f"AND status NOT IN {_FINISHED} AND {_FREE}{of} ORDER BY wake_at LIMIT :limit) AS due_by_time "
        f"UNION ALL SELECT * FROM (SELECT instance_id, COALESCE(wake_at, updated_at) AS due FROM edda_instances "
        f"WHERE status IN {_ACTIVE} AND {_NOT_DUE} AND {_FREE}{of} ORDER BY due LIMIT :limit) AS needing_a_worker "
        f"UNION ALL SELECT * FROM (SELECT instance_id, COALESCE(wake_at, updated_at) AS due FROM edda_instances "
        f"WHERE cancel_requested = TRUE AND status NOT IN {_FINISHED} AND status NOT IN {_ACTIVE} AND {_NOT_DUE} "
        f"AND {_FREE}{of} ORDER BY due LIMIT :limit) AS cancel_requested"
    )
    return Sql(
        f"UPDATE edda_instances SET {_CLAIM_SET} WHERE instance_id IN (SELECT instance_id FROM ({candidates}) "
        f"AS candidates ORDER BY due, instance_id LIMIT :limit) RETURNING {INSTANCE_COLUMNS}"
    )


@lru_cache(maxsize=64)
def _select_runnable_for_update_sql(names: int | None) -> Sql:
    return Sql(
        f"SELECT {INSTANCE_COLUMNS} FROM edda_instances WHERE {_RUNNABLE}{workflow_name_filter(names)} "
        "ORDER BY COALESCE(wake_at, updated_at), instance_id LIMIT :limit FOR UPDATE SKIP LOCKED"
    )


def claim_runnable(
    d: Dialect,
    worker_id: str,
    now: datetime,
    lease_expires_at: datetime,
    limit: int,
    workflow_names: Collection[str] | None = None,
) -> Op[list[InstanceRecord]]:
    """``claim_runnable``; with ``workflow_names``, ``claim_runnable_of`` (only their instances; none: nothing)."""
    params: dict[str, Any] = {
        "worker_id": worker_id,
        "now": d.ts_in(now),
        "lease_expires_at": d.ts_in(lease_expires_at),
        "limit": int(limit),
    }
    count, names = workflow_name_params(workflow_names)
    params.update(names)
    nothing = limit <= 0 or count == 0

    def order(records: list[InstanceRecord]) -> list[InstanceRecord]:
        return sorted(records, key=lambda r: (r.wake_at or r.updated_at, r.instance_id))

    if d.returning:
        sql = _sqlite_claim_runnable_sql(count) if d.name == "sqlite" else _claim_runnable_sql(d.lock_suffix(), count)

        def steps() -> Steps:
            if nothing:
                return []
            rows = yield Query(sql, params)
            return order([instance_from_row(r, d) for r in rows])

        return Op(steps(), autocommit=True)

    def locking_steps() -> Steps:
        if nothing:
            return []
        rows = yield Query(_select_runnable_for_update_sql(count), params)
        records = order([instance_from_row(r, d) for r in rows])
        if not records:
            return []
        ids = {f"id{i}": r.instance_id for i, r in enumerate(records)}
        claim = {k: params[k] for k in ("worker_id", "now", "lease_expires_at")}
        yield Execute(_claim_in_sql(len(records)), {**claim, **ids})
        return [_taken(r, worker_id, now, lease_expires_at) for r in records]

    return Op(locking_steps())


@lru_cache(maxsize=32)
def _select_fences_sql(count: int) -> Sql:
    ids = ", ".join(f":id{i}" for i in range(count))
    return Sql(f"SELECT instance_id, owner_id, lease_epoch FROM edda_instances WHERE instance_id IN ({ids}) FOR UPDATE")


@lru_cache(maxsize=32)
def _renew_in_sql(count: int) -> Sql:
    ids = ", ".join(f":id{i}" for i in range(count))
    return Sql(f"UPDATE edda_instances SET lease_expires_at = :lease_expires_at WHERE instance_id IN ({ids})")


def renew_leases(d: Dialect, fences: list[Fence], lease_expires_at: datetime) -> Op[set[str]]:
    until = d.ts_in(lease_expires_at)
    if d.name == "postgresql":
        params = {
            "lease_expires_at": until,
            "ids": [f.instance_id for f in fences],
            "workers": [f.worker_id for f in fences],
            "epochs": [int(f.epoch) for f in fences],
        }

        def pg_steps() -> Steps:
            if not fences:
                return set()
            rows = yield Query(_RENEW_MANY_PG, params)
            return {r[0] for r in rows}

        return Op(pg_steps(), autocommit=True)

    if d.name == "sqlite":  # runs in the writer thread: many tiny statements cost nothing

        def sqlite_steps() -> Steps:
            renewed: set[str] = set()
            for f in fences:
                params = {
                    "lease_expires_at": until,
                    "instance_id": f.instance_id,
                    "worker_id": f.worker_id,
                    "epoch": int(f.epoch),
                }
                if (yield Execute(_RENEW_ONE, params)):
                    renewed.add(f.instance_id)
            return renewed

        return Op(sqlite_steps())

    def mysql_steps() -> Steps:
        renewed: set[str] = set()
        wanted = {(f.instance_id, f.worker_id, int(f.epoch)) for f in fences}
        ids = sorted({f.instance_id for f in fences})
        for start in range(0, len(ids), _MYSQL_CHUNK):
            chunk = ids[start : start + _MYSQL_CHUNK]
            params = {f"id{i}": v for i, v in enumerate(chunk)}
            rows = yield Query(_select_fences_sql(len(chunk)), params)
            held = sorted({r[0] for r in rows if (r[0], r[1], int(r[2])) in wanted})
            if held:
                held_params = {f"id{i}": v for i, v in enumerate(held)}
                yield Execute(_renew_in_sql(len(held)), {"lease_expires_at": until, **held_params})
                renewed.update(held)
        return renewed

    return Op(mysql_steps())


def release_foreign_leases(d: Dialect, worker_id: str) -> Op[int]:
    def steps() -> Steps:
        return int((yield Execute(_RELEASE_FOREIGN, {"worker_id": worker_id})))

    return Op(steps(), autocommit=True)
