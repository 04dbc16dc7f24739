"""The transactional outbox as statement generators: listing, and claiming/finishing events for relayers.

Rows are written by ``commit_step``. A relayer claims pending events in ``seq`` (commit) order; only the oldest
pending event of each instance is claimable, so one instance's events go out in order and a stuck one holds back
only its own instance. Claims are leases (``claimed_by`` until ``claim_expires_at``); concurrent claimers skip each
other's rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL and MySQL; SQLite's single writer serializes them).
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import datetime
from functools import lru_cache
from typing import Any

from edda.storage.records import (
    BLOCKING_OUTBOX_STATUSES,
    RESENDABLE_OUTBOX_STATUSES,
    SKIPPABLE_OUTBOX_STATUSES,
    OutboxEvent,
)
from edda_storage_sql._dialects import Dialect
from edda_storage_sql._rows import OUTBOX_COLUMNS, outbox_from_row
from edda_storage_sql._sql import Execute, Op, Query, Sql, Statement

__all__ = [
    "claim_outbox",
    "finish_outbox",
    "get_outbox_event",
    "list_outbox",
    "resend_outbox",
    "retry_outbox",
    "skip_outbox",
]

Steps = Generator[Statement, Any, Any]

_OUTBOX_ALL = Sql(f"SELECT {OUTBOX_COLUMNS} FROM edda_outbox ORDER BY seq LIMIT :limit")
_OUTBOX_BY_STATUS = Sql(f"SELECT {OUTBOX_COLUMNS} FROM edda_outbox WHERE status = :status ORDER BY seq LIMIT :limit")


def _in(statuses: frozenset[str]) -> str:
    return "(" + ", ".join(f"'{s}'" for s in sorted(statuses)) + ")"


_CLAIMABLE = (
    "o.status = 'pending' AND (o.next_attempt_at IS NULL OR o.next_attempt_at <= :now) "
    "AND (o.claimed_by IS NULL OR o.claim_expires_at IS NULL OR o.claim_expires_at <= :now) "
    "AND (o.instance_id IS NULL OR NOT EXISTS (SELECT 1 FROM edda_outbox p WHERE p.instance_id = o.instance_id "
    f"AND p.status IN {_in(BLOCKING_OUTBOX_STATUSES)} AND p.seq < o.seq))"
)
_CLAIM_SET = "claimed_by = :worker_id, claim_expires_at = :claim_expires_at"
# The first row with the event id (a derived table, because MySQL cannot read the table it updates in a subquery).
_FIRST_WITH_ID = (
    "seq = (SELECT first_seq FROM (SELECT MIN(seq) AS first_seq FROM edda_outbox WHERE event_id = :event_id) AS f)"
)
_HELD = f"{_FIRST_WITH_ID} AND claimed_by = :worker_id AND status = 'pending'"
_FINISH = Sql(
    "UPDATE edda_outbox SET status = :status, attempts = attempts + :counted, last_error = :error, claimed_by = NULL, "
    f"claim_expires_at = NULL, published_at = :published_at WHERE {_HELD}"
)
_RETRY = Sql(
    "UPDATE edda_outbox SET attempts = attempts + 1, last_error = :error, claimed_by = NULL, claim_expires_at = NULL, "
    f"next_attempt_at = :next_attempt_at WHERE {_HELD}"
)
_RESEND = Sql(
    "UPDATE edda_outbox SET status = 'pending', attempts = 0, next_attempt_at = NULL, claimed_by = NULL, "
    f"claim_expires_at = NULL WHERE {_FIRST_WITH_ID} AND status IN {_in(RESENDABLE_OUTBOX_STATUSES)}"
)
_SKIP = Sql(
    "UPDATE edda_outbox SET status = 'skipped', claimed_by = NULL, claim_expires_at = NULL "
    f"WHERE {_FIRST_WITH_ID} AND status IN {_in(SKIPPABLE_OUTBOX_STATUSES)}"
)
_SELECT_CLAIMABLE = Sql(
    f"SELECT {', '.join('o.' + c.strip() for c in OUTBOX_COLUMNS.split(','))} FROM edda_outbox o WHERE {_CLAIMABLE} "
    "ORDER BY o.seq LIMIT :limit FOR UPDATE SKIP LOCKED"
)


def list_outbox(d: Dialect, status: str | None, limit: int) -> Op[list[OutboxEvent]]:
    """``list_outbox``: events in ``seq`` order, optionally only those with ``status``."""
    if status is None:
        sql, params = _OUTBOX_ALL, {"limit": int(limit)}
    else:
        sql, params = _OUTBOX_BY_STATUS, {"status": status, "limit": int(limit)}

    def steps() -> Steps:
        rows = yield Query(sql, params)
        return [outbox_from_row(r, d) for r in rows]

    return Op(steps(), autocommit=True)


_OUTBOX_EVENT = Sql(f"SELECT {OUTBOX_COLUMNS} FROM edda_outbox WHERE event_id = :event_id ORDER BY seq LIMIT 1")


def get_outbox_event(d: Dialect, event_id: str) -> Op[OutboxEvent | None]:
    """``get_outbox_event``: the first event written with ``event_id``, or None."""

    def steps() -> Steps:
        rows = yield Query(_OUTBOX_EVENT, {"event_id": event_id})
        return outbox_from_row(rows[0], d) if rows else None

    return Op(steps(), autocommit=True)


@lru_cache(maxsize=4)
def _claim_sql(lock_suffix: str) -> Sql:
    return Sql(
        f"UPDATE edda_outbox SET {_CLAIM_SET} WHERE seq IN (SELECT o.seq FROM edda_outbox o WHERE {_CLAIMABLE} "
        f"ORDER BY o.seq LIMIT :limit{lock_suffix}) RETURNING {OUTBOX_COLUMNS}"
    )


@lru_cache(maxsize=64)
def _claim_in_sql(count: int) -> Sql:
    seqs = ", ".join(f":s{i}" for i in range(count))
    return Sql(f"UPDATE edda_outbox SET {_CLAIM_SET} WHERE seq IN ({seqs})")


def claim_outbox(
    d: Dialect, worker_id: str, now: datetime, claim_expires_at: datetime, limit: int
) -> Op[list[OutboxEvent]]:
    """``claim_outbox``: claim up to ``limit`` due head-of-instance pending events, in ``seq`` order."""
    params = {
        "worker_id": worker_id,
        "now": d.ts_in(now),
        "claim_expires_at": d.ts_in(claim_expires_at),
        "limit": int(limit),
    }
    if d.returning:
        sql = _claim_sql(d.lock_suffix())

        def steps() -> Steps:
            if limit <= 0:
                return []
            rows = yield Query(sql, params)
            return sorted((outbox_from_row(r, d) for r in rows), key=lambda e: e.seq)

        return Op(steps(), autocommit=True)

    def locking_steps() -> Steps:
        if limit <= 0:
            return []
        rows = yield Query(_SELECT_CLAIMABLE, params)
        if not rows:
            return []
        seqs = {f"s{i}": row[0] for i, row in enumerate(rows)}
        yield Execute(_claim_in_sql(len(rows)), {**params, **seqs})
        rows = yield Query(_select_seqs_sql(len(rows)), seqs)
        return [outbox_from_row(r, d) for r in rows]

    return Op(locking_steps())


@lru_cache(maxsize=64)
def _select_seqs_sql(count: int) -> Sql:
    seqs = ", ".join(f":s{i}" for i in range(count))
    return Sql(f"SELECT {OUTBOX_COLUMNS} FROM edda_outbox WHERE seq IN ({seqs}) ORDER BY seq")


def finish_outbox(d: Dialect, event_id: str, worker_id: str, status: str, now: datetime, error: str | None) -> Op[bool]:
    """``finish_outbox``: record the outcome of a claimed event; False if ``worker_id`` no longer holds it."""
    if status not in ("published", "failed", "expired"):
        raise ValueError(f"status must be published, failed or expired, got {status!r}")
    params = {
        "event_id": event_id,
        "worker_id": worker_id,
        "status": status,
        "counted": 0 if status == "expired" else 1,
        "error": error,
        "published_at": d.ts_in(now) if status == "published" else None,
    }

    def steps() -> Steps:
        return bool((yield Execute(_FINISH, params)))

    return Op(steps(), autocommit=True)


def retry_outbox(d: Dialect, event_id: str, worker_id: str, error: str, next_attempt_at: datetime) -> Op[bool]:
    """``retry_outbox``: count a failed attempt and make the event due again; False if no longer held."""
    params = {
        "event_id": event_id,
        "worker_id": worker_id,
        "error": error,
        "next_attempt_at": d.ts_in(next_attempt_at),
    }

    def steps() -> Steps:
        return bool((yield Execute(_RETRY, params)))

    return Op(steps(), autocommit=True)


def resend_outbox(event_id: str) -> Op[bool]:
    """``resend_outbox``: a failed, expired or skipped event becomes pending again; False if none such."""

    def steps() -> Steps:
        return bool((yield Execute(_RESEND, {"event_id": event_id})))

    return Op(steps(), autocommit=True)


def skip_outbox(event_id: str) -> Op[bool]:
    """``skip_outbox``: a pending or failed event becomes skipped; False if none such."""

    def steps() -> Steps:
        return bool((yield Execute(_SKIP, {"event_id": event_id})))

    return Op(steps(), autocommit=True)
