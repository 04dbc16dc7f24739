"""Instance, history and lease operations, written as statement generators (see :mod:`edda_storage_sql._sql`).

The unit of work is in :mod:`._commit`, channels in :mod:`._channels`, the outbox in :mod:`._outbox`. Each function
validates and encodes its input at once (so a bad value raises before anything reaches the database) and returns an
:class:`~edda_storage_sql._sql.Op`. Statement texts are built once per dialect and shape and cached.

Semantics follow ``edda.storage.memory.InMemoryStorage`` exactly; where a dialect lacks a feature the operation takes
another route to the same result (MySQL has no ``RETURNING`` on ``UPDATE``: it locks the rows with ``SELECT ... FOR
UPDATE`` first and computes the returned records itself).
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache
from typing import Any

from edda.storage.records import (
    ACTIVE_STATUSES,
    FINISHED_STATUSES,
    Fence,
    HistoryEvent,
    InstancePage,
    InstanceQuery,
    InstanceRecord,
    NewInstance,
)
from edda_storage_sql._codec import PayloadGuard, decode_json
from edda_storage_sql._dialects import Dialect, like_pattern, to_utc
from edda_storage_sql._rows import (
    HISTORY_COLUMNS,
    INSTANCE_COLUMNS,
    history_from_row,
    instance_from_row,
)
from edda_storage_sql._sql import Execute, Op, Query, Sql, Statement

__all__ = [
    "EncodedInstance",
    "claim_instance",
    "claim_runnable",
    "create_instance",
    "encode_instance",
    "find_instances",
    "get_history",
    "get_instance",
    "prepare_find",
    "release_foreign_leases",
    "renew_leases",
    "request_cancel",
]

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

_SELECT_INSTANCE = Sql(f"SELECT {INSTANCE_COLUMNS} FROM edda_instances WHERE instance_id = :instance_id")
_SELECT_INSTANCE_FOR_UPDATE = Sql(
    f"SELECT {INSTANCE_COLUMNS} FROM edda_instances WHERE instance_id = :instance_id FOR UPDATE"
)
_INSERT_INSTANCE_COLUMNS = (
    "INSERT INTO edda_instances (instance_id, workflow_name, status, input_data, created_at, updated_at, owner_id, "
    "lease_epoch, lease_expires_at, cancel_requested, iteration, lock_timeout_seconds, message_anchor) VALUES ("
    ":instance_id, :workflow_name, 'running', :input_data, :now, :now, :owner_id, 1, :lease_expires_at, :false, 0, "
    ":lock_timeout_seconds, (SELECT COALESCE(MAX(seq), 0) FROM edda_channel_messages))"
)
_INSERT_INSTANCE = Sql(_INSERT_INSTANCE_COLUMNS)
_INSERT_INSTANCE_IF_ABSENT = Sql(_INSERT_INSTANCE_COLUMNS + " ON CONFLICT (instance_id) DO NOTHING")
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
_REQUEST_CANCEL = Sql(
    "UPDATE edda_instances SET cancel_requested = TRUE, updated_at = :now "
    f"WHERE instance_id = :instance_id AND status NOT IN {_FINISHED}"
)
_HISTORY_CURRENT = Sql(
    f"SELECT {HISTORY_COLUMNS} FROM edda_history WHERE instance_id = :instance_id AND iteration = "
    "(SELECT iteration FROM edda_instances WHERE instance_id = :instance_id) ORDER BY seq"
)
_HISTORY_ITERATION = Sql(
    f"SELECT {HISTORY_COLUMNS} FROM edda_history WHERE instance_id = :instance_id AND iteration = :iteration "
    "ORDER BY seq"
)

_MYSQL_CHUNK = 500


# -- instances -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EncodedInstance:
    """A :class:`NewInstance` validated and converted to column values, plus the record it will read back as."""

    params: dict[str, Any]
    record: InstanceRecord


def encode_instance(d: Dialect, guard: PayloadGuard, new: NewInstance) -> EncodedInstance:
    """Validate and encode ``new``.

    Raises:
        PayloadTooLargeError: ``input_data`` is over the payload limit.
    """
    input_json = guard.json(new.input_data)
    lock_timeout = None if new.lock_timeout_seconds is None else float(new.lock_timeout_seconds)
    params = {
        "instance_id": new.instance_id,
        "workflow_name": new.workflow_name,
        "input_data": input_json,
        "now": d.ts_in(new.now),
        "owner_id": new.owner_id,
        "lease_expires_at": d.ts_in(new.lease_expires_at),
        "false": d.bool_in(False),
        "lock_timeout_seconds": lock_timeout,
    }
    now = to_utc(new.now)
    record = InstanceRecord(
        instance_id=new.instance_id,
        workflow_name=new.workflow_name,
        status="running",
        input_data=decode_json(input_json),
        created_at=now,
        updated_at=now,
        owner_id=new.owner_id,
        lease_epoch=1,
        lease_expires_at=to_utc(new.lease_expires_at),
        lock_timeout_seconds=lock_timeout,
    )
    return EncodedInstance(params, record)


def create_instance(d: Dialect, new: EncodedInstance) -> Op[tuple[InstanceRecord, bool]]:
    """``create_instance``: insert unless the id exists; return the stored record and whether it was created."""
    params, record = new.params, new.record

    def steps() -> Steps:
        if d.returning:  # PostgreSQL and SQLite: ON CONFLICT DO NOTHING
            if (yield Execute(_INSERT_INSTANCE_IF_ABSENT, params)):
                return record, True
        else:
            try:
                yield Execute(_INSERT_INSTANCE, params)
                return record, True
            except Exception:  # the runner throws in only a duplicate-key error
                pass
        rows = yield Query(_SELECT_INSTANCE, {"instance_id": record.instance_id})
        return instance_from_row(rows[0], d), False

    return Op(steps(), autocommit=True)


def get_instance(d: Dialect, instance_id: str) -> Op[InstanceRecord | None]:
    def steps() -> Steps:
        rows = yield Query(_SELECT_INSTANCE, {"instance_id": instance_id})
        return instance_from_row(rows[0], d) if rows else None

    return Op(steps(), autocommit=True)


def request_cancel(d: Dialect, instance_id: str, now: datetime) -> Op[InstanceRecord | None]:
    def steps() -> Steps:
        yield Execute(_REQUEST_CANCEL, {"instance_id": instance_id, "now": d.ts_in(now)})
        rows = yield Query(_SELECT_INSTANCE, {"instance_id": instance_id})
        return instance_from_row(rows[0], d) if rows else None

    return Op(steps())


def prepare_find(d: Dialect, q: InstanceQuery) -> tuple[Sql, dict[str, Any]]:
    """The statement and parameters of ``find_instances``; every filter is a bound parameter.

    Raises:
        ConfigurationError: an input filter has an unsupported path or value.
    """
    conds: list[str] = []
    params: dict[str, Any] = {"limit": int(q.limit) + 1}
    if q.status is not None:
        conds.append("status = :status")
        params["status"] = q.status
    if q.workflow_name is not None:
        conds.append("LOWER(workflow_name) LIKE :workflow_name ESCAPE '!'")
        params["workflow_name"] = like_pattern(q.workflow_name)
    if q.instance_id is not None:
        conds.append("LOWER(instance_id) LIKE :instance_id ESCAPE '!'")
        params["instance_id"] = like_pattern(q.instance_id)
    if q.started_after is not None:
        conds.append("created_at >= :started_after")
        params["started_after"] = d.ts_in(q.started_after)
    if q.started_before is not None:
        conds.append("created_at <= :started_before")
        params["started_before"] = d.ts_in(q.started_before)
    if q.cursor is not None:
        conds.append("(created_at < :cursor_at OR (created_at = :cursor_at AND instance_id < :cursor_id))")
        params["cursor_at"] = d.ts_in(q.cursor[0])
        params["cursor_id"] = q.cursor[1]
    for index, (path, value) in enumerate(q.input_filters):
        cond, extra = d.json_filter(index, path, value)
        conds.append(cond)
        params.update(extra)
    return _find_sql(" AND ".join(conds) if conds else "1 = 1"), params


def find_instances(d: Dialect, prepared: tuple[Sql, dict[str, Any]], limit: int) -> Op[InstancePage]:
    """``find_instances``: newest first, keyset pagination on (created_at, instance_id) descending."""
    sql, params = prepared

    def steps() -> Steps:
        rows = yield Query(sql, params)
        records = [instance_from_row(r, d) for r in rows[:limit]]
        if len(rows) > limit and records:
            last = records[-1]
            return InstancePage(records, (last.created_at, last.instance_id))
        return InstancePage(records, None)

    return Op(steps(), autocommit=True)


@lru_cache(maxsize=256)
def _find_sql(where: str) -> Sql:
    return Sql(
        f"SELECT {INSTANCE_COLUMNS} FROM edda_instances WHERE {where} "
        "ORDER BY created_at DESC, instance_id DESC LIMIT :limit"
    )


# -- history ----------------------------------------------------------------------------------------


def get_history(d: Dialect, instance_id: str, iteration: int | None) -> Op[list[HistoryEvent]]:
    if iteration is None:
        sql, params = _HISTORY_CURRENT, {"instance_id": instance_id}
    else:
        sql, params = _HISTORY_ITERATION, {"instance_id": instance_id, "iteration": int(iteration)}

    def steps() -> Steps:
        rows = yield Query(sql, params)
        return [history_from_row(r, d) for r in rows]

    return Op(steps(), autocommit=True)


@lru_cache(maxsize=64)
def _histories_sql(count: int) -> Sql:
    ids = ", ".join(f":id{i}" for i in range(count))
    return Sql(
        f"SELECT {HISTORY_COLUMNS} FROM edda_history WHERE (instance_id, iteration) IN "
        f"(SELECT instance_id, iteration FROM edda_instances WHERE instance_id IN ({ids})) ORDER BY instance_id, seq"
    )


def get_histories(d: Dialect, instance_ids: Sequence[str]) -> Op[dict[str, list[HistoryEvent]]]:
    """The current history of several instances in one query (in chunks of ``_MYSQL_CHUNK`` ids)."""
    ids = list(dict.fromkeys(instance_ids))

    def steps() -> Steps:
        found: dict[str, list[HistoryEvent]] = {}
        for start in range(0, len(ids), _MYSQL_CHUNK):
            chunk = ids[start : start + _MYSQL_CHUNK]
            rows = yield Query(_histories_sql(len(chunk)), {f"id{i}": iid for i, iid in enumerate(chunk)})
            for row in rows:
                event = history_from_row(row, d)
                found.setdefault(event.instance_id, []).append(event)
        return found

    return Op(steps(), autocommit=True)


# -- leases ----------------------------------------------------------------------------------------------------------


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


@lru_cache(maxsize=8)
def _claim_runnable_sql(lock_suffix: str) -> Sql:
    return Sql(
        f"UPDATE edda_instances SET {_CLAIM_SET} WHERE instance_id IN (SELECT instance_id FROM edda_instances "
        f"WHERE {_RUNNABLE} ORDER BY COALESCE(wake_at, updated_at), instance_id LIMIT :limit{lock_suffix}) "
        f"RETURNING {INSTANCE_COLUMNS}"
    )


_SELECT_RUNNABLE_FOR_UPDATE = Sql(
    f"SELECT {INSTANCE_COLUMNS} FROM edda_instances WHERE {_RUNNABLE} "
    "ORDER BY COALESCE(wake_at, updated_at), instance_id LIMIT :limit FOR UPDATE SKIP LOCKED"
)


def claim_runnable(
    d: Dialect, worker_id: str, now: datetime, lease_expires_at: datetime, limit: int
) -> Op[list[InstanceRecord]]:
    params = {
        "worker_id": worker_id,
        "now": d.ts_in(now),
        "lease_expires_at": d.ts_in(lease_expires_at),
        "limit": int(limit),
    }

    def order(records: list[InstanceRecord]) -> list[InstanceRecord]:
        return sorted(records, key=lambda r: (r.wake_at or r.updated_at, r.instance_id))

    if d.returning:
        sql = _claim_runnable_sql(d.lock_suffix())

        def steps() -> Steps:
            if limit <= 0:
                return []
            rows = yield Query(sql, params)
            return order([instance_from_row(r, d) for r in rows])

        return Op(steps(), autocommit=True)

    def locking_steps() -> Steps:
        if limit <= 0:
            return []
        rows = yield Query(_SELECT_RUNNABLE_FOR_UPDATE, params)
        records = order([instance_from_row(r, d) for r in rows])
        if not records:
            return []
        ids = {f"id{i}": r.instance_id for i, r in enumerate(records)}
        yield Execute(_claim_in_sql(len(records)), {**params, **ids})
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
