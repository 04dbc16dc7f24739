"""Instance operations (create, read, find, cancel), written as statement generators (see :mod:`._sql`).

History reads are in :mod:`._history`, leases in :mod:`._leases`, the unit of work in :mod:`._commit`, channels in
:mod:`._channels`, the outbox in :mod:`._outbox`. Each function validates and encodes its input at once (so a bad
value raises before anything reaches the database) and returns an :class:`~edda_storage_sql._sql.Op`. Statement
texts are built once per dialect and shape and cached.

Semantics follow ``edda.storage.memory.InMemoryStorage`` exactly; where a dialect lacks a feature the operation takes
another route to the same result (MySQL has no ``ON CONFLICT``: a duplicate-key error thrown back into the operation
means the instance exists).
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from edda.storage.records import FINISHED_STATUSES, InstancePage, InstanceQuery, InstanceRecord, NewInstance
from edda_storage_sql._codec import PayloadGuard, decode_json
from edda_storage_sql._dialects import Dialect, like_pattern, to_utc
from edda_storage_sql._rows import INSTANCE_COLUMNS, instance_from_row
from edda_storage_sql._sql import Execute, Op, Query, Sql, Statement

__all__ = [
    "EncodedInstance",
    "create_instance",
    "encode_instance",
    "find_instances",
    "get_instance",
    "prepare_find",
    "reopen_instance",
    "request_cancel",
]

Steps = Generator[Statement, Any, Any]

_FINISHED = "(" + ", ".join(f"'{s}'" for s in sorted(FINISHED_STATUSES)) + ")"

_SELECT_INSTANCE = Sql(f"SELECT {INSTANCE_COLUMNS} FROM edda_instances WHERE instance_id = :instance_id")
_INSERT_INSTANCE_COLUMNS = (
    "INSERT INTO edda_instances (instance_id, workflow_name, status, input_data, created_at, updated_at, owner_id, "
    "lease_epoch, lease_expires_at, cancel_requested, iteration, lock_timeout_seconds, message_anchor) VALUES ("
    ":instance_id, :workflow_name, 'running', :input_data, :now, :now, :owner_id, 1, :lease_expires_at, :false, 0, "
    ":lock_timeout_seconds, (SELECT COALESCE(MAX(seq), 0) FROM edda_channel_messages))"
)
_INSERT_INSTANCE = Sql(_INSERT_INSTANCE_COLUMNS)
_INSERT_INSTANCE_IF_ABSENT = Sql(_INSERT_INSTANCE_COLUMNS + " ON CONFLICT (instance_id) DO NOTHING")
_REQUEST_CANCEL = Sql(
    "UPDATE edda_instances SET cancel_requested = TRUE, updated_at = :now "
    f"WHERE instance_id = :instance_id AND status NOT IN {_FINISHED}"
)

_REOPEN = Sql(
    "UPDATE edda_instances SET status = 'running', error = NULL, completed_at = NULL, owner_id = NULL, "
    "lease_expires_at = NULL, wake_at = NULL, wait = NULL, updated_at = :now "
    "WHERE instance_id = :instance_id AND status = 'failed'"
)


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


_BATCH = 500  # ids per query of get_instances


@lru_cache(maxsize=64)
def _instances_sql(count: int) -> Sql:
    ids = ", ".join(f":id{i}" for i in range(count))
    return Sql(f"SELECT {INSTANCE_COLUMNS} FROM edda_instances WHERE instance_id IN ({ids})")


def get_instances(d: Dialect, instance_ids: Sequence[str]) -> Op[dict[str, InstanceRecord]]:
    """Several instances by id, in one query per :data:`_BATCH` ids (unknown ids are left out)."""
    ids = list(dict.fromkeys(instance_ids))

    def steps() -> Steps:
        found: dict[str, InstanceRecord] = {}
        for start in range(0, len(ids), _BATCH):
            chunk = ids[start : start + _BATCH]
            rows = yield Query(_instances_sql(len(chunk)), {f"id{i}": iid for i, iid in enumerate(chunk)})
            for row in rows:
                record = instance_from_row(row, d)
                found[record.instance_id] = record
        return found

    return Op(steps(), autocommit=True)


def request_cancel(d: Dialect, instance_id: str, now: datetime) -> Op[InstanceRecord | None]:
    def steps() -> Steps:
        yield Execute(_REQUEST_CANCEL, {"instance_id": instance_id, "now": d.ts_in(now)})
        rows = yield Query(_SELECT_INSTANCE, {"instance_id": instance_id})
        return instance_from_row(rows[0], d) if rows else None

    return Op(steps())


def reopen_instance(d: Dialect, instance_id: str, now: datetime) -> Op[bool]:
    def steps() -> Steps:
        return bool((yield Execute(_REOPEN, {"instance_id": instance_id, "now": d.ts_in(now)})))

    return Op(steps(), autocommit=True)


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
        if d.name == "postgresql":  # a row comparison is an index condition there (the OR form filters every row)
            conds.append("(created_at, instance_id) < (:cursor_at, :cursor_id)")
        else:
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
