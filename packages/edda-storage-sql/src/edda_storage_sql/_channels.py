"""Channel messaging as statement generators: subscriptions, publishing (with wake-ups), delivery, cleanup.

Semantics are those of ``InMemoryStorage``: a subscription has a mode (``broadcast``: every message published after
subscribing, tracked by a per-subscriber cursor; ``competing``: each untargeted message to one subscriber, claimed;
``direct``: only messages targeted at the instance); the channel's mode is that of its non-direct subscriptions.

No wake-up may be lost between a publish and a receive that parks. On SQLite the single writer serializes them. On
PostgreSQL and MySQL every operation first locks its channels' rows in ``edda_channels`` (in name order, so two
operations never wait on each other crosswise): exclusively for what must see every receiver at once (an unaddressed
publish, subscribing, a publish inside a step), in share mode for what concerns one instance (its receive, a message
addressed to it). Those then serialize on the instance's own row, which a receive locks first (its fenced update)
and an addressed publish locks before it looks whether its target is waiting; competing receivers, which may find
the same message at once, claim it conditionally and the loser looks again. Receives of different instances on one
channel (thousands of workflows waiting on one event type, each for its own event) thus run in parallel.
"""

from __future__ import annotations

from collections.abc import Collection, Generator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from edda.exceptions import ChannelModeConflictError
from edda.storage.records import FINISHED_STATUSES, WAITING_STATUSES, ChannelMessageRecord, NewMessage, Subscribe
from edda_storage_sql._codec import PayloadGuard, decode_json, encode_json
from edda_storage_sql._dialects import Dialect, to_utc
from edda_storage_sql._rows import MESSAGE_COLUMNS, message_from_row, workflow_name_filter, workflow_name_params
from edda_storage_sql._sql import Execute, Op, Query, Sql, Statement

__all__ = [
    "EncodedMessage",
    "check_modes",
    "cleanup_messages",
    "encode_message",
    "find_deliverable",
    "lock_channels",
    "publish",
    "publish_steps",
    "subscribe",
    "unsubscribe",
]

Steps = Generator[Statement, Any, Any]

_FINISHED = "(" + ", ".join(f"'{s}'" for s in sorted(FINISHED_STATUSES)) + ")"
_WAITING = "(" + ", ".join(f"'{s}'" for s in sorted(WAITING_STATUSES)) + ")"

_CHANNEL_MODE = Sql("SELECT mode FROM edda_channel_subscriptions WHERE channel = :channel AND mode <> 'direct' LIMIT 1")
_GET_SUBSCRIPTION = Sql(
    "SELECT mode, cursor_seq FROM edda_channel_subscriptions WHERE instance_id = :instance_id AND channel = :channel"
)
# A new subscription starts reading at the instance's anchor (its start), so that nothing published after start()
# returned is lost to a wait the workflow reaches later; see docs/waiting.md.
_ANCHOR = Sql("SELECT message_anchor FROM edda_instances WHERE instance_id = :instance_id")
# Unsubscribing moves the anchor to now: subscribing again later reads only what is published from then on.
_MOVE_ANCHOR = Sql(
    "UPDATE edda_instances SET message_anchor = (SELECT COALESCE(MAX(seq), 0) FROM edda_channel_messages) "
    "WHERE instance_id = :instance_id"
)
_INSERT_SUBSCRIPTION = Sql(
    "INSERT INTO edda_channel_subscriptions (instance_id, channel, mode, cursor_seq, waiting_since) "
    "VALUES (:instance_id, :channel, :mode, :cursor_seq, NULL)"
)
_RESET_SUBSCRIPTION = Sql(
    "UPDATE edda_channel_subscriptions SET mode = :mode, cursor_seq = :cursor_seq, waiting_since = NULL "
    "WHERE instance_id = :instance_id AND channel = :channel"
)
_DELETE_SUBSCRIPTION = Sql(
    "DELETE FROM edda_channel_subscriptions WHERE instance_id = :instance_id AND channel = :channel"
)
_MESSAGE_VALUES = (
    "(message_id, channel, data, data_bytes, metadata, target_instance_id, published_at) VALUES (:message_id, "
    ":channel, :data, :data_bytes, :metadata, :target_instance_id, :published_at)"
)
_INSERT_MESSAGE_RETURNING = Sql(f"INSERT INTO edda_channel_messages {_MESSAGE_VALUES} RETURNING seq")
_INSERT_MESSAGE = Sql(f"INSERT INTO edda_channel_messages {_MESSAGE_VALUES}")
_LAST_INSERT_ID = Sql("SELECT LAST_INSERT_ID()")
_MESSAGE_BY_ID = Sql(f"SELECT {MESSAGE_COLUMNS} FROM edda_channel_messages WHERE message_id = :message_id")
_WAITING_SUBSCRIBERS = Sql(
    "SELECT instance_id, mode FROM edda_channel_subscriptions WHERE channel = :channel AND waiting_since IS NOT NULL "
    "ORDER BY waiting_since, instance_id"
)
# A targeted message can wake only its target: look at that one subscription, not at every waiting subscriber of the
# channel (thousands of workflows may wait on one event type, each for its own event). By its primary key only: a
# condition on waiting_since would let PostgreSQL's planner pick the partial index of the channel's waiting
# subscriptions and read them all (migration 0007).
_TARGET_WAITING = Sql(
    "SELECT instance_id, waiting_since FROM edda_channel_subscriptions WHERE instance_id = :instance_id "
    "AND channel = :channel"
)
_UNCLAIMED = Sql(
    "SELECT COUNT(*) FROM edda_channel_messages WHERE channel = :channel AND target_instance_id IS NULL "
    "AND claimed_by IS NULL"
)
_CLAIM_MESSAGE = Sql(
    "UPDATE edda_channel_messages SET claimed_by = :instance_id WHERE seq = :seq AND claimed_by IS NULL"
)
_LOCK_INSTANCE = Sql("SELECT instance_id FROM edda_instances WHERE instance_id = :instance_id FOR UPDATE")
_ADVANCE_CURSOR = Sql(
    "UPDATE edda_channel_subscriptions SET cursor_seq = :seq, waiting_since = NULL "
    "WHERE instance_id = :instance_id AND channel = :channel"
)
_SET_WAITING = Sql(
    "UPDATE edda_channel_subscriptions SET waiting_since = :waiting_since "
    "WHERE instance_id = :instance_id AND channel = :channel"
)
_COMPETING_SUB = (
    "EXISTS (SELECT 1 FROM edda_channel_subscriptions s WHERE s.channel = edda_channel_messages.channel "
    "AND s.mode = 'competing')"
)
# Old messages that were delivered, or that nobody can ever take: addressed to an instance that does not exist or has
# finished (events posted for unknown ids must not pile up for ever).
_CLEANUP = Sql(
    "DELETE FROM edda_channel_messages WHERE published_at < :older_than AND ("
    f"((target_instance_id IS NOT NULL OR {_COMPETING_SUB}) AND claimed_by IS NOT NULL) "
    f"OR (target_instance_id IS NULL AND NOT {_COMPETING_SUB} AND NOT EXISTS (SELECT 1 FROM "
    "edda_channel_subscriptions s WHERE s.channel = edda_channel_messages.channel AND s.mode = 'broadcast' "
    "AND s.cursor_seq < edda_channel_messages.seq)) "
    "OR (target_instance_id IS NOT NULL AND claimed_by IS NULL AND NOT EXISTS (SELECT 1 FROM edda_instances i "
    f"WHERE i.instance_id = edda_channel_messages.target_instance_id AND i.status NOT IN {_FINISHED})))"
)


@dataclass(frozen=True, slots=True)
class EncodedMessage:
    """A :class:`NewMessage` with its data validated and encoded."""

    message: NewMessage
    data: str | None
    data_bytes: bytes | None
    metadata: str


def encode_message(guard: PayloadGuard, message: NewMessage) -> EncodedMessage:
    """Validate the message's data against the payload limit and encode it.

    Raises:
        PayloadTooLargeError: the data is over the limit.
    """
    data, data_bytes = guard.data(message.data)
    return EncodedMessage(message, data, data_bytes, encode_json(dict(message.metadata))[0])


@lru_cache(maxsize=64)
def _in_list(prefix: str, count: int) -> str:
    return ", ".join(f":{prefix}{i}" for i in range(count))


@lru_cache(maxsize=64)
def _lock_sql(dialect: str, count: int) -> Sql:
    if dialect == "postgresql":
        return Sql(
            "INSERT INTO edda_channels (channel) SELECT c FROM unnest(CAST(:channels AS text[])) AS t(c) ORDER BY c "
            "ON CONFLICT (channel) DO UPDATE SET channel = EXCLUDED.channel"
        )
    values = ", ".join(f"(:ch{i})" for i in range(count))
    return Sql(f"INSERT INTO edda_channels (channel) VALUES {values} ON DUPLICATE KEY UPDATE channel = channel")


_SHARE_LOCK = {
    "postgresql": Sql("SELECT channel FROM edda_channels WHERE channel = :channel FOR SHARE"),
    "mysql": Sql("SELECT channel FROM edda_channels WHERE channel = :channel LOCK IN SHARE MODE"),
}


def lock_channels(d: Dialect, channels: Sequence[str], shared: Sequence[str] = ()) -> Steps:
    """Row-lock the channels until the transaction ends, in name order: ``channels`` exclusively (created if new),
    ``shared`` (those not also in ``channels``) in share mode. No-op on SQLite, whose single writer serializes.

    Exclusive: anything that must see every receiver of a channel at once (an unaddressed publish, subscribing,
    unsubscribing, a publish inside a step). Share: work on one instance's part of a channel (its receive, a message
    addressed to it), which the instance's own row serializes instead; receives of different instances then run in
    parallel, and an unaddressed publish still excludes them all."""
    if d.name == "sqlite" or not (channels or shared):
        return
    exclusive = set(channels)
    for name in sorted(exclusive | set(shared)):
        if name not in exclusive:
            rows = yield Query(_SHARE_LOCK[d.name], {"channel": name})
            if rows:
                continue
            # A channel never used before: create it, which takes the exclusive lock (first use only).
        if d.name == "postgresql":
            yield Execute(_lock_sql("postgresql", 0), {"channels": [name]})
        else:
            yield Execute(_lock_sql("mysql", 1), {"ch0": name})


def _channel_mode(channel: str) -> Steps:
    rows = yield Query(_CHANNEL_MODE, {"channel": channel})
    return rows[0][0] if rows else None


def check_modes(subscriptions: Sequence[Any]) -> Steps:
    """Raise :class:`ChannelModeConflictError` if a ``Subscribe`` asks for another mode than its channel's."""
    for change in subscriptions:
        if isinstance(change, Subscribe) and change.mode not in (None, "direct"):
            current = yield from _channel_mode(change.channel)
            if current is not None and current != change.mode:
                raise ChannelModeConflictError(
                    f"Channel {change.channel!r} is already used in {current!r} mode; it cannot also be "
                    f"subscribed in {change.mode!r} mode. Use one mode per channel (or another channel name)."
                )


def subscribe(instance_id: str, channel: str, mode: str | None) -> Steps:
    """Subscribe (or keep the subscription of the same mode). Returns the subscription's ``(mode, cursor)``."""
    key = {"instance_id": instance_id, "channel": channel}
    rows = yield Query(_GET_SUBSCRIPTION, key)
    if rows and (mode is None or rows[0][0] == mode):
        return rows[0][0], int(rows[0][1])
    resolved = mode or (yield from _channel_mode(channel)) or "broadcast"
    anchor = yield Query(_ANCHOR, {"instance_id": instance_id})
    cursor = int(anchor[0][0]) if anchor else 0
    params = {**key, "mode": resolved, "cursor_seq": cursor}
    yield Execute(_RESET_SUBSCRIPTION if rows else _INSERT_SUBSCRIPTION, params)
    return resolved, cursor


def unsubscribe(instance_id: str, channel: str) -> Steps:
    yield Execute(_DELETE_SUBSCRIPTION, {"instance_id": instance_id, "channel": channel})
    yield Execute(_MOVE_ANCHOR, {"instance_id": instance_id})


_WAKE_CHUNK = 1000


@lru_cache(maxsize=64)
def _wake_sql(count: int, returning: bool) -> Sql:
    ids = _in_list("id", count)
    tail = " RETURNING instance_id" if returning else ""
    return Sql(f"UPDATE edda_instances SET wake_at = :now WHERE instance_id IN ({ids}) AND status IN {_WAITING}{tail}")


@lru_cache(maxsize=64)
def _lock_waiting_sql(count: int) -> Sql:
    ids = _in_list("id", count)
    return Sql(
        f"SELECT instance_id FROM edda_instances WHERE instance_id IN ({ids}) AND status IN {_WAITING} FOR UPDATE"
    )


def publish_steps(d: Dialect, m: EncodedMessage, now: datetime, *, lock_target: bool = False) -> Steps:
    """Store the message and wake its waiting receivers. Returns ``(record, woken ids)``; channel already locked.

    ``lock_target``: the channel is locked in share mode only, so an addressed message first locks its target's
    instance row, which the target's own receive holds from its start: the two then serialize, and either the
    receive sees the message or the publish sees the receive waiting."""
    message = m.message
    params = {
        "message_id": message.message_id,
        "channel": message.channel,
        "data": m.data,
        "data_bytes": m.data_bytes,
        "metadata": m.metadata,
        "target_instance_id": message.target_instance_id,
        "published_at": d.ts_in(now),
    }
    if d.returning:
        seq = (yield Query(_INSERT_MESSAGE_RETURNING, params))[0][0]
    else:
        yield Execute(_INSERT_MESSAGE, params)
        seq = (yield Query(_LAST_INSERT_ID, {}))[0][0]
    record = ChannelMessageRecord(
        seq=int(seq),
        message_id=message.message_id,
        channel=message.channel,
        data=m.data_bytes if m.data_bytes is not None else decode_json(m.data),
        metadata=decode_json(m.metadata),
        published_at=to_utc(now),
        target_instance_id=message.target_instance_id,
    )
    if message.target_instance_id is not None:
        if lock_target and d.name != "sqlite":
            yield Query(_LOCK_INSTANCE, {"instance_id": message.target_instance_id})
        rows = yield Query(_TARGET_WAITING, {"channel": message.channel, "instance_id": message.target_instance_id})
        targets = [row[0] for row in rows if row[1] is not None]
    else:
        waiting = yield Query(_WAITING_SUBSCRIBERS, {"channel": message.channel})
        broadcast = [row[0] for row in waiting if row[1] == "broadcast"]
        competing = [row[0] for row in waiting if row[1] == "competing"]
        if competing:
            unclaimed = int((yield Query(_UNCLAIMED, {"channel": message.channel}))[0][0])
            competing = competing[:unclaimed]
        targets = broadcast + competing
    targets = list(dict.fromkeys(targets))
    woken: set[str] = set()
    # In chunks: a broadcast may wake 100,000 instances, and a statement takes at most 32,767 parameters (asyncpg).
    for start in range(0, len(targets), _WAKE_CHUNK):
        chunk = targets[start : start + _WAKE_CHUNK]
        ids = {f"id{i}": iid for i, iid in enumerate(chunk)}
        if d.returning:
            rows = yield Query(_wake_sql(len(chunk), True), {"now": d.ts_in(now), **ids})
        else:
            rows = yield Query(_lock_waiting_sql(len(chunk)), ids)
            if rows:
                yield Execute(_wake_sql(len(chunk), False), {"now": d.ts_in(now), **ids})
        woken.update(row[0] for row in rows)
    return record, [iid for iid in targets if iid in woken]


def publish(d: Dialect, m: EncodedMessage, now: datetime) -> Op[tuple[ChannelMessageRecord, tuple[str, ...]]]:
    """``publish``: store a message and wake its receivers, serialized with receives on the channel."""

    def steps() -> Steps:
        if m.message.target_instance_id is not None:  # concerns one receiver only: see lock_channels
            yield from lock_channels(d, [], shared=[m.message.channel])
        else:
            yield from lock_channels(d, [m.message.channel])
        # A message id is stored once (a unique index since 0006): the same CloudEvent delivered again finds its
        # message and wakes nobody. Two deliveries racing past this look both insert; the index refuses the second.
        stored = yield Query(_MESSAGE_BY_ID, {"message_id": m.message.message_id})
        if stored:
            return message_from_row(stored[0], d), ()
        lock_target = m.message.target_instance_id is not None
        record, woken = yield from publish_steps(d, m, now, lock_target=lock_target)
        return record, tuple(woken)

    return Op(steps())


_FIND_ADDRESSED = (
    f"SELECT {MESSAGE_COLUMNS} FROM edda_channel_messages WHERE channel = :channel AND "
    "target_instance_id = :instance_id AND claimed_by IS NULL ORDER BY seq LIMIT 1"
)
_UNADDRESSED = (
    f"SELECT {MESSAGE_COLUMNS} FROM edda_channel_messages WHERE channel = :channel AND target_instance_id IS NULL "
    "AND claimed_by IS NULL {}ORDER BY seq LIMIT 1"
)
_FIND_UNADDRESSED = {
    "broadcast": _UNADDRESSED.format("AND seq > :cursor_seq "),  # only what was published after subscribing
    "competing": _UNADDRESSED.format(""),
}


@lru_cache(maxsize=8)
def _find_sql(mode: str) -> Sql:
    """The oldest message deliverable in ``mode``: the oldest addressed to the receiver and (unless ``direct``) the
    oldest unaddressed one, each found through the index on ``(channel, target_instance_id, seq)``, in one query."""
    unaddressed = _FIND_UNADDRESSED.get(mode)
    if unaddressed is None:
        return Sql(_FIND_ADDRESSED)
    return Sql(
        f"SELECT * FROM ({_FIND_ADDRESSED}) AS addressed UNION ALL SELECT * FROM ({unaddressed}) AS unaddressed "
        "ORDER BY seq LIMIT 1"
    )


def find_deliverable(instance_id: str, channel: str, mode: str, cursor: int) -> Steps:
    """The first message deliverable to the instance on the channel (oldest first), as a row, or ``None``."""
    params: dict[str, Any] = {"channel": channel, "instance_id": instance_id}
    if mode == "broadcast":
        params["cursor_seq"] = cursor
    rows = yield Query(_find_sql(mode), params)
    return rows[0] if rows else None


def take(instance_id: str, channel: str, mode: str, seq: int, targeted: bool) -> Steps:
    """Mark a found message delivered to the instance: claim it, or move the broadcast cursor past it.

    Returns ``False`` if a competing receiver claimed the message first (receives share the channel lock, so two
    may find the same message; the claim is conditional and the loser looks again)."""
    key = {"instance_id": instance_id, "channel": channel}
    if targeted or mode == "competing":
        if not (yield Execute(_CLAIM_MESSAGE, {"instance_id": instance_id, "seq": seq})):
            return False
        yield Execute(_SET_WAITING, {**key, "waiting_since": None})
    else:
        yield Execute(_ADVANCE_CURSOR, {**key, "seq": seq})
    return True


def set_waiting(d: Dialect, instance_id: str, channel: str, now: datetime) -> Steps:
    yield Execute(_SET_WAITING, {"instance_id": instance_id, "channel": channel, "waiting_since": d.ts_in(now)})


def cleanup_messages(d: Dialect, older_than: datetime) -> Op[int]:
    """``cleanup_messages``: delete messages published before ``older_than`` that were delivered or are addressed to
    an instance that does not exist or has finished."""

    def steps() -> Steps:
        return int((yield Execute(_CLEANUP, {"older_than": d.ts_in(older_than)})))

    return Op(steps(), autocommit=True)


_NEXT_WAKE = Sql(
    f"SELECT MIN(wake_at) FROM edda_instances WHERE wake_at IS NOT NULL AND owner_id IS NULL "
    f"AND status NOT IN {_FINISHED}"
)


@lru_cache(maxsize=64)
def _next_wake_sql(names: int | None) -> Sql:
    return _NEXT_WAKE if names is None else Sql(_NEXT_WAKE.text + workflow_name_filter(names))


def next_wake_at(d: Dialect, workflow_names: Collection[str] | None = None) -> Op[datetime | None]:
    """``next_wake_at``: the earliest wake-up of an unfinished, unowned instance; with ``workflow_names``,
    ``next_wake_at_of`` (among their instances only; none: ``None``)."""
    count, params = workflow_name_params(workflow_names)

    def steps() -> Steps:
        if count == 0:
            return None
        rows = yield Query(_next_wake_sql(count), params)
        return d.ts_out(rows[0][0]) if rows else None

    return Op(steps(), autocommit=True)
