"""The engine's unit of work: ``commit_step`` and ``receive_or_wait``, as statement generators.

Every commit starts with the fenced instance ``UPDATE`` (``... WHERE instance_id AND owner_id AND lease_epoch``),
which always sets ``updated_at``; no matching row means the lease is lost and nothing is written. Then come the
history rows, outbox rows, subscription changes and published messages, in the caller's transaction.

On PostgreSQL a commit without channel work is one statement: the fenced ``UPDATE`` and the inserts that join it in
data-modifying CTEs. It is atomic without ``BEGIN``/``COMMIT`` and costs one round trip instead of four.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from edda.exceptions import LeaseLostError
from edda.storage.records import (
    FINISHED_STATUSES,
    ChannelMessageRecord,
    Fence,
    HistoryEventType,
    InstanceUpdate,
    StepCommit,
    StepOutcome,
    Subscribe,
    Unsubscribe,
)
from edda_storage_sql import _channels
from edda_storage_sql._channels import EncodedMessage
from edda_storage_sql._codec import PayloadGuard, encode_json
from edda_storage_sql._dialects import Dialect, to_utc
from edda_storage_sql._rows import message_from_row
from edda_storage_sql._sql import Execute, ExecuteMany, Op, Query, Sql, Statement

__all__ = ["EncodedStep", "EncodedUpdate", "commit_step", "encode_step", "encode_update", "receive_or_wait"]

Steps = Generator[Statement, Any, Any]

_FINISHED = "(" + ", ".join(f"'{s}'" for s in sorted(FINISHED_STATUSES)) + ")"
_UPDATE_FIELDS = (
    "status",
    "output_data",
    "error",
    "completed_at",
    "wake_at",
    "wait",
    "iteration",
    "input_data",
    "lease_expires_at",
)
_TIME_FIELDS = frozenset({"completed_at", "wake_at", "lease_expires_at"})
_FENCE = "WHERE instance_id = :instance_id AND owner_id = :owner_id AND lease_epoch = :epoch"

_INSERT_HISTORY = Sql(
    "INSERT INTO edda_history (instance_id, iteration, activity_id, event_type, event_data, payload, created_at) "
    "VALUES (:instance_id, :iteration, :activity_id, :event_type, :event_data, :payload, :created_at)"
)
_INSERT_OUTBOX = Sql(
    "INSERT INTO edda_outbox (event_id, instance_id, event_type, event_source, data, data_bytes, content_type, "
    "extensions, status, attempts, created_at) VALUES (:event_id, :instance_id, :event_type, :event_source, :data, "
    ":data_bytes, :content_type, :extensions, :status, :attempts, :created_at)"
)
_SELECT_PROGRESS = Sql(
    "SELECT iteration, cancel_requested, status FROM edda_instances WHERE instance_id = :instance_id"
)
_SELECT_ITERATION = Sql("SELECT iteration FROM edda_instances WHERE instance_id = :instance_id")
_SELECT_ITERATION_FOR_UPDATE = Sql("SELECT iteration FROM edda_instances WHERE instance_id = :instance_id FOR UPDATE")
_DROP_SUBSCRIPTIONS = Sql("DELETE FROM edda_channel_subscriptions WHERE instance_id = :instance_id")


@dataclass(frozen=True, slots=True)
class EncodedUpdate:
    """An :class:`InstanceUpdate` as column assignments: which fields (``shape``) and their ``u_*`` parameters."""

    shape: tuple[str, ...]
    params: dict[str, Any]


@dataclass(frozen=True, slots=True)
class EncodedStep:
    """A :class:`StepCommit` validated and converted to column values."""

    fence: Fence
    now: datetime
    update: EncodedUpdate
    params: dict[str, Any]
    history: list[dict[str, Any]]
    outbox: list[dict[str, Any]]
    messages: tuple[EncodedMessage, ...]
    subscriptions: tuple[Subscribe | Unsubscribe, ...]

    @property
    def channels(self) -> list[str]:
        """Every channel the step touches (to lock), sorted."""
        names = {s.channel for s in self.subscriptions} | {m.message.channel for m in self.messages}
        return sorted(names)


def encode_update(d: Dialect, guard: PayloadGuard, update: InstanceUpdate | None) -> EncodedUpdate:
    """Validate and encode the fields ``update`` sets.

    Raises:
        PayloadTooLargeError: a value is over the payload limit.
    """
    if update is None:
        return EncodedUpdate((), {})
    changes = update.changes()
    release = update.release_lease
    shape: list[str] = []
    params: dict[str, Any] = {}
    for name in _UPDATE_FIELDS:
        if name not in changes or (release and name == "lease_expires_at"):
            continue
        value = changes[name]
        shape.append(name)
        if name == "output_data":
            params["u_output_data"], params["u_output_bytes"] = guard.data(value)
        elif name in ("error", "wait"):
            params[f"u_{name}"] = guard.json_or_null(value)
        elif name == "input_data":
            params["u_input_data"] = guard.json(value)
        elif name in _TIME_FIELDS:
            params[f"u_{name}"] = d.ts_in(value)
        elif name == "iteration":
            params["u_iteration"] = int(value)
        else:
            params[f"u_{name}"] = value
    if release:
        shape.append("release")
    return EncodedUpdate(tuple(shape), params)


def encode_step(d: Dialect, guard: PayloadGuard, commit: StepCommit) -> EncodedStep:
    """Validate sizes and encode every value of ``commit``.

    Raises:
        PayloadTooLargeError: a value exceeds the payload limit (nothing has been written).
    """
    fence = commit.fence
    now = d.ts_in(commit.now)
    update = encode_update(d, guard, commit.update)
    params: dict[str, Any] = {
        "instance_id": fence.instance_id,
        "owner_id": fence.worker_id,
        "epoch": fence.epoch,
        "now": now,
        **update.params,
    }
    history = [
        {
            "instance_id": fence.instance_id,
            "activity_id": h.activity_id,
            "event_type": h.event_type,
            "event_data": guard.json(h.event_data),
            "payload": guard.blob(h.payload),
            "created_at": now,
        }
        for h in commit.history
    ]
    outbox = []
    for o in commit.outbox:
        data, data_bytes = guard.data(o.data)
        outbox.append(
            {
                "event_id": o.event_id,
                "instance_id": fence.instance_id,
                "event_type": o.event_type,
                "event_source": o.event_source,
                "data": data,
                "data_bytes": data_bytes,
                "content_type": o.content_type,
                "extensions": guard.json(dict(o.extensions)),
                "status": "pending",
                "attempts": 0,
                "created_at": now,
            }
        )
    messages = tuple(_channels.encode_message(guard, m) for m in commit.messages)
    return EncodedStep(fence, commit.now, update, params, history, outbox, messages, tuple(commit.subscriptions))


def _set_clause(shape: tuple[str, ...], *, touch: bool = True) -> str:
    parts = ["updated_at = :now"] if touch else []
    for name in shape:
        if name == "output_data":
            parts.append("output_data = :u_output_data, output_bytes = :u_output_bytes")
        elif name == "release":
            parts.append("owner_id = NULL, lease_expires_at = NULL")
        else:
            parts.append(f"{name} = :u_{name}")
    return ", ".join(parts)


@lru_cache(maxsize=128)
def _fenced_update_sql(shape: tuple[str, ...], returning: bool) -> Sql:
    tail = " RETURNING iteration, cancel_requested, status" if returning else ""
    return Sql(f"UPDATE edda_instances SET {_set_clause(shape)} {_FENCE}{tail}")


@lru_cache(maxsize=64)
def _plain_update_sql(shape: tuple[str, ...]) -> Sql:
    return Sql(f"UPDATE edda_instances SET {_set_clause(shape, touch=False)} WHERE instance_id = :instance_id")


def _lease_lost(fence: Fence) -> LeaseLostError:
    return LeaseLostError(
        f"Worker {fence.worker_id!r} no longer holds instance {fence.instance_id!r} "
        f"(lease epoch {fence.epoch}); another worker took it over, so this write was rejected."
    )


def _fenced_update(d: Dialect, step: EncodedStep) -> Steps:
    """The fenced UPDATE. Returns ``(iteration before, iteration after, cancel_requested, status)``.

    The step's own history belongs to the iteration it was made in, even when the update starts a new one
    (``ctx.recur()``); only then is the old value read first (with a row lock where other writers exist).
    """
    before: int | None = None
    if "iteration" in step.update.shape:
        sql = _SELECT_ITERATION if d.name == "sqlite" else _SELECT_ITERATION_FOR_UPDATE
        rows = yield Query(sql, {"instance_id": step.fence.instance_id})
        if not rows:
            raise _lease_lost(step.fence)
        before = int(rows[0][0])
    if d.returning:
        rows = yield Query(_fenced_update_sql(step.update.shape, True), step.params)
        if not rows:
            raise _lease_lost(step.fence)
    else:
        if not (yield Execute(_fenced_update_sql(step.update.shape, False), step.params)):
            raise _lease_lost(step.fence)
        rows = yield Query(_SELECT_PROGRESS, {"instance_id": step.fence.instance_id})
    after = int(rows[0][0])
    return (after if before is None else before), after, bool(rows[0][1]), rows[0][2]


def _apply(d: Dialect, step: EncodedStep) -> Steps:
    """Everything of a commit after its channels are locked. Returns ``(outcome, current iteration)``."""
    iid = step.fence.instance_id
    iteration, current, cancel_requested, status = yield from _fenced_update(d, step)
    yield from _channels.check_modes(step.subscriptions)
    if step.history:
        yield ExecuteMany(_INSERT_HISTORY, [{**h, "iteration": iteration} for h in step.history])
    if step.outbox:
        yield ExecuteMany(_INSERT_OUTBOX, step.outbox)
    for change in step.subscriptions:
        if isinstance(change, Subscribe):
            yield from _channels.subscribe(iid, change.channel, change.mode)
        else:
            yield from _channels.unsubscribe(iid, change.channel)
    if status in FINISHED_STATUSES:
        yield Execute(_DROP_SUBSCRIPTIONS, {"instance_id": iid})
    woken: list[str] = []
    for message in step.messages:
        _record, ids = yield from _channels.publish_steps(d, message, step.now)
        woken += ids
    return StepOutcome(cancel_requested=cancel_requested, woken=tuple(dict.fromkeys(woken))), current


def commit_step(d: Dialect, step: EncodedStep) -> Op[StepOutcome]:
    """``commit_step``: apply the step atomically if its fence holds."""
    if d.name == "postgresql" and not step.messages and not step.subscriptions:
        return _commit_step_pg(step)

    def steps() -> Steps:
        yield from _channels.lock_channels(d, step.channels)
        outcome, _iteration = yield from _apply(d, step)
        return outcome

    return Op(steps())


@lru_cache(maxsize=256)
def _pg_commit_sql(shape: tuple[str, ...], history: bool, outbox: bool) -> Sql:
    # The inserts select FROM upd: if the fence fails, upd has no row, so they insert nothing and the statement
    # returns nothing. ``prev`` reads the row as it was before the statement (every part of one statement sees the
    # same snapshot): history belongs to the iteration the step was made in, even if the update starts a new one.
    # ``unsub`` drops the subscriptions of an instance the update finished.
    ctes = [
        f"upd AS (UPDATE edda_instances SET {_set_clause(shape)} {_FENCE} "
        "RETURNING iteration, cancel_requested, status)",
        "unsub AS (DELETE FROM edda_channel_subscriptions WHERE instance_id = :instance_id "
        f"AND EXISTS (SELECT 1 FROM upd WHERE upd.status IN {_FINISHED}))",
    ]
    if history:
        ctes.append(
            "hist AS (INSERT INTO edda_history (instance_id, iteration, activity_id, event_type, event_data, payload, "
            "created_at) SELECT :instance_id, prev.iteration, h.activity_id, h.event_type, h.event_data, h.payload, "
            ":now FROM upd CROSS JOIN (SELECT iteration FROM edda_instances WHERE instance_id = :instance_id) AS prev "
            "CROSS JOIN unnest(CAST(:h_activity_ids AS text[]), CAST(:h_event_types AS text[]), "
            "CAST(:h_event_data AS text[]), CAST(:h_payloads AS bytea[])) WITH ORDINALITY AS h(activity_id, "
            "event_type, event_data, payload, ord) ORDER BY h.ord)"
        )
    if outbox:
        ctes.append(
            "obx AS (INSERT INTO edda_outbox (event_id, instance_id, event_type, event_source, data, data_bytes, "
            "content_type, extensions, status, attempts, created_at) SELECT o.event_id, :instance_id, o.event_type, "
            "o.event_source, o.data, o.data_bytes, o.content_type, o.extensions, 'pending', 0, :now FROM upd "
            "CROSS JOIN unnest(CAST(:o_event_ids AS text[]), CAST(:o_event_types AS text[]), "
            "CAST(:o_event_sources AS text[]), CAST(:o_data AS text[]), CAST(:o_data_bytes AS bytea[]), "
            "CAST(:o_content_types AS text[]), CAST(:o_extensions AS text[])) WITH ORDINALITY AS o(event_id, "
            "event_type, event_source, data, data_bytes, content_type, extensions, ord) ORDER BY o.ord)"
        )
    return Sql(f"WITH {', '.join(ctes)} SELECT iteration, cancel_requested FROM upd")


def _commit_step_pg(step: EncodedStep) -> Op[StepOutcome]:
    params = dict(step.params)
    if step.history:
        params["h_activity_ids"] = [h["activity_id"] for h in step.history]
        params["h_event_types"] = [h["event_type"] for h in step.history]
        params["h_event_data"] = [h["event_data"] for h in step.history]
        params["h_payloads"] = [h["payload"] for h in step.history]
    if step.outbox:
        params["o_event_ids"] = [o["event_id"] for o in step.outbox]
        params["o_event_types"] = [o["event_type"] for o in step.outbox]
        params["o_event_sources"] = [o["event_source"] for o in step.outbox]
        params["o_data"] = [o["data"] for o in step.outbox]
        params["o_data_bytes"] = [o["data_bytes"] for o in step.outbox]
        params["o_content_types"] = [o["content_type"] for o in step.outbox]
        params["o_extensions"] = [o["extensions"] for o in step.outbox]
    sql = _pg_commit_sql(step.update.shape, bool(step.history), bool(step.outbox))

    def steps() -> Steps:
        rows = yield Query(sql, params)
        if not rows:
            raise _lease_lost(step.fence)
        return StepOutcome(cancel_requested=bool(rows[0][1]))

    return Op(steps(), autocommit=True)


def receive_or_wait(
    d: Dialect, step: EncodedStep, *, channel: str, step_id: str, wait: EncodedUpdate | None
) -> Op[ChannelMessageRecord | None]:
    """``receive_or_wait``: apply the step, then take the first deliverable message or record the wait."""
    iid = step.fence.instance_id

    def steps() -> Steps:
        # The receive itself needs the channel in share mode only: the fenced update of the instance's own row,
        # right after, serializes it with messages addressed to the instance (see _channels.lock_channels).
        yield from _channels.lock_channels(d, step.channels, shared=[channel])
        _outcome, iteration = yield from _apply(d, step)
        mode, cursor = yield from _channels.subscribe(iid, channel, None)
        while True:
            row = yield from _channels.find_deliverable(iid, channel, mode, cursor)
            if row is None:
                if wait is not None:
                    if wait.shape:
                        yield Execute(_plain_update_sql(wait.shape), {"instance_id": iid, **wait.params})
                    yield from _channels.set_waiting(d, iid, channel, step.now)
                return None
            record = message_from_row(row, d)
            if (yield from _channels.take(iid, channel, mode, record.seq, record.target_instance_id is not None)):
                break
        is_bytes = isinstance(record.data, bytes)
        event_data: dict[str, Any] = {
            "channel": channel,
            "message_id": record.message_id,
            "seq": record.seq,
            "data": None if is_bytes else record.data,
            "metadata": record.metadata,
            "published_at": to_utc(record.published_at).isoformat(),
            "target_instance_id": record.target_instance_id,
        }
        if is_bytes:
            event_data["data_encoding"] = "bytes"
        yield ExecuteMany(
            _INSERT_HISTORY,
            [
                {
                    "instance_id": iid,
                    "iteration": iteration,
                    "activity_id": step_id,
                    "event_type": HistoryEventType.MESSAGE_RECEIVED,
                    "event_data": encode_json(event_data)[0],
                    "payload": record.data if is_bytes else None,
                    "created_at": d.ts_in(step.now),
                }
            ],
        )
        return record

    return Op(steps())
