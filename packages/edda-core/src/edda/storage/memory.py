"""``memory://``: the reference storage, kept in process memory.

It implements every role of :mod:`edda.storage.protocol` with the same observable behaviour as the SQL backends
(values are JSON round-tripped on the way in, so a tuple comes back as a list there too; identifiers a database
cannot store or compare exactly are refused, see :mod:`edda.storage.keys`), and is what the conformance kit is
first proven against. Nothing survives the process; use it for tests and examples.

Longer than 500 lines because it is the executable specification of the whole SPI in one class: every role
side by side, so that a reader can check one role's behaviour against the others' in one place.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime
from typing import Any

from edda.exceptions import ChannelModeConflictError, LeaseLostError, PayloadTooLargeError, SessionUnavailableError
from edda.storage.keys import check_commit, check_key, check_text, clean_text, encodable, workflow_name_set
from edda.storage.protocol import Transaction
from edda.storage.records import (
    ACTIVE_STATUSES,
    BLOCKING_OUTBOX_STATUSES,
    FINISHED_STATUSES,
    RESENDABLE_OUTBOX_STATUSES,
    SKIPPABLE_OUTBOX_STATUSES,
    WAITING_STATUSES,
    ChannelMessageRecord,
    Fence,
    HistoryEvent,
    HistoryEventType,
    InstancePage,
    InstanceQuery,
    InstanceRecord,
    InstanceUpdate,
    NewInstance,
    NewMessage,
    OutboxEvent,
    StepCommit,
    StepOutcome,
    StorageCapabilities,
    Subscribe,
)

__all__ = ["InMemoryStorage"]

_JSON_COLUMNS = ("input_data", "output_data", "error", "wait")


def _freeze(value: Any) -> Any:
    """Store data the way a database would: bytes as bytes, everything else as JSON text (UTF-8, or ASCII escapes
    when a string holds a lone surrogate, as the SQL storage does)."""
    if isinstance(value, bytes):
        return value
    text = json.dumps(value, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    return text if encodable(text) else json.dumps(value, separators=(",", ":"), allow_nan=False)


def _thaw(value: Any) -> Any:
    if isinstance(value, bytes):
        return value
    return json.loads(value)


def _size(value: Any) -> int:
    return len(value) if isinstance(value, bytes) else len(value.encode())


def _positive(limit: Any) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be a positive int, got {limit!r}")
    return limit


class _MemoryTransaction:
    """Buffers writes; applied atomically on commit."""

    def __init__(self) -> None:
        self.ops: list[tuple[Callable[[], object], Callable[[], object]]] = []  # (check, apply) pairs
        self.done = False

    async def commit(self) -> None:
        if self.done:
            raise RuntimeError("transaction already finished")
        self.done = True
        ops, self.ops = self.ops, []
        for check, _apply in ops:  # every check first, so a failing one leaves nothing applied
            check()
        for _check, apply in ops:  # no await in between: atomic with respect to other tasks
            apply()

    async def rollback(self) -> None:
        self.done = True
        self.ops.clear()

    @property
    def session(self) -> Any:
        raise SessionUnavailableError(
            "ctx.session needs SQL storage: the memory:// storage has no database session. Use "
            "EddaApp(db_url='sqlite:///app.db') (pip install edda-storage-sql) to share a transaction with Edda."
        )

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        mark = len(self.ops)
        try:
            yield
        except BaseException:
            del self.ops[mark:]
            raise


class InMemoryStorage:
    """In-process storage (``memory://``). Each instance of the class is one separate database."""

    def __init__(self, *, max_payload_bytes: int | None = 10 * 1024 * 1024) -> None:
        self.capabilities = StorageCapabilities(
            sessions=False, multi_process=False, single_process_takeover=True, max_payload_bytes=max_payload_bytes
        )
        self._instances: dict[str, dict[str, Any]] = {}
        self._history: list[HistoryEvent] = []
        self._history_by_instance: dict[tuple[str, int], list[HistoryEvent]] = {}
        self._outbox: list[OutboxEvent] = []
        self._seq = 0
        self._messages: list[dict[str, Any]] = []
        self._message_ids: dict[str, dict[str, Any]] = {}  # message id -> its row: an id is stored once
        self._msg_seq = 0
        self._outbox_seq = 0
        self._subs: dict[tuple[str, str], dict[str, Any]] = {}  # (instance_id, channel) -> mode, cursor, waiting
        # Per instance: the message position its new subscriptions start reading at (its start; moved by unsubscribe).
        self._anchors: dict[str, int] = {}

    @classmethod
    def from_url(cls, url: str, **options: Any) -> InMemoryStorage:
        """Build from ``memory://`` (no I/O). Accepts and ignores the SQL pool options."""
        max_payload = options.get("max_payload_bytes", 10 * 1024 * 1024)
        return cls(max_payload_bytes=max_payload)

    async def initialize(self) -> None:
        return None

    async def close(self) -> None:
        return None

    # -- transactions -------------------------------------------------------------------------------------------

    def begin(self) -> _MemoryTransaction:
        return _MemoryTransaction()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_MemoryTransaction]:
        tx = self.begin()
        try:
            yield tx
        except BaseException:
            await tx.rollback()
            raise
        await tx.commit()

    # -- instances ----------------------------------------------------------------------------------------------

    async def create_instance(self, new: NewInstance) -> tuple[InstanceRecord, bool]:
        check_key(new.instance_id, "instance id")
        check_key(new.workflow_name, "workflow name")
        check_key(new.owner_id, "worker id")
        existing = self._instances.get(new.instance_id)
        if existing is not None:
            return self._record(existing), False
        row = {
            "instance_id": new.instance_id,
            "workflow_name": new.workflow_name,
            "status": "running",
            "input_data": self._check(_freeze(new.input_data)),
            "created_at": new.now,
            "updated_at": new.now,
            "output_data": _freeze(None),
            "error": _freeze(None),
            "completed_at": None,
            "owner_id": new.owner_id,
            "lease_epoch": 1,
            "lease_expires_at": new.lease_expires_at,
            "wake_at": None,
            "wait": _freeze(None),
            "cancel_requested": False,
            "iteration": 0,
            "lock_timeout_seconds": new.lock_timeout_seconds,
        }
        self._instances[new.instance_id] = row
        self._anchors[new.instance_id] = self._msg_seq
        return self._record(row), True

    async def get_instance(self, instance_id: str) -> InstanceRecord | None:
        check_key(instance_id, "instance id")
        row = self._instances.get(instance_id)
        return None if row is None else self._record(row)

    async def find_instances(self, query: InstanceQuery) -> InstancePage:
        for what, text in (("status filter", query.status), ("workflow name filter", query.workflow_name)):
            check_text(text, what)
        check_text(query.instance_id, "instance id filter")
        check_text(None if query.cursor is None else query.cursor[1], "page token")
        for path, value in query.input_filters:
            check_text(value, f"input filter {path!r}")
        rows = sorted(self._instances.values(), key=lambda r: (r["created_at"], r["instance_id"]), reverse=True)
        out: list[InstanceRecord] = []
        for row in rows:
            if query.cursor is not None and (row["created_at"], row["instance_id"]) >= query.cursor:
                continue
            if not self._matches(row, query):
                continue
            if len(out) == query.limit:
                last = out[-1]
                return InstancePage(out, (last.created_at, last.instance_id))
            out.append(self._record(row))
        return InstancePage(out, None)

    @staticmethod
    def _matches(row: dict[str, Any], q: InstanceQuery) -> bool:
        if q.status is not None and row["status"] != q.status:
            return False
        if q.workflow_name is not None and q.workflow_name.lower() not in row["workflow_name"].lower():
            return False
        if q.instance_id is not None and q.instance_id.lower() not in row["instance_id"].lower():
            return False
        if q.started_after is not None and row["created_at"] < q.started_after:
            return False
        if q.started_before is not None and row["created_at"] > q.started_before:
            return False
        if q.input_filters:
            data = _thaw(row["input_data"])
            for path, expected in q.input_filters:
                node: Any = data
                for part in path.split("."):
                    if not isinstance(node, dict) or part not in node:
                        return False
                    node = node[part]
                if type(node) is not type(expected) and not (
                    isinstance(node, int | float)
                    and isinstance(expected, int | float)
                    and not isinstance(node, bool)
                    and not isinstance(expected, bool)
                ):
                    return False
                if node != expected:
                    return False
        return True

    async def request_cancel(self, instance_id: str, *, now: datetime) -> InstanceRecord | None:
        check_key(instance_id, "instance id")
        row = self._instances.get(instance_id)
        if row is None:
            return None
        if row["status"] not in FINISHED_STATUSES:
            row["cancel_requested"] = True
            row["updated_at"] = now
        return self._record(row)

    async def reopen_instance(self, instance_id: str, *, now: datetime) -> bool:
        row = self._instances.get(instance_id)
        if row is None or row["status"] != "failed":
            return False
        row.update(status="running", error=_freeze(None), completed_at=None, owner_id=None, lease_expires_at=None)
        row.update(wake_at=None, wait=_freeze(None), updated_at=now)
        return True

    # -- retention ----------------------------------------------------------------------------------------------

    def _expired(self, finished_before: datetime) -> list[dict[str, Any]]:
        """Finished before ``finished_before``, no outbox event still to send; the earliest finished first."""
        held = {e.instance_id for e in self._outbox if e.status in BLOCKING_OUTBOX_STATUSES}
        rows = [
            row
            for row in self._instances.values()
            if row["status"] in FINISHED_STATUSES
            and row["completed_at"] is not None
            and row["completed_at"] < finished_before
            and row["instance_id"] not in held
        ]
        return sorted(rows, key=lambda r: (r["completed_at"], r["instance_id"]))

    async def find_expired_instances(self, *, finished_before: datetime, limit: int) -> list[InstanceRecord]:
        return [self._record(row) for row in self._expired(finished_before)[: _positive(limit)]]

    async def count_expired_instances(self, *, finished_before: datetime) -> int:
        return len(self._expired(finished_before))

    async def delete_expired_instances(self, *, finished_before: datetime, limit: int) -> int:
        doomed = {row["instance_id"] for row in self._expired(finished_before)[: _positive(limit)]}
        for iid in doomed:
            del self._instances[iid]
            self._anchors.pop(iid, None)
        self._history = [e for e in self._history if e.instance_id not in doomed]
        for key in [k for k in self._history_by_instance if k[0] in doomed]:
            del self._history_by_instance[key]
        for key in [k for k in self._subs if k[0] in doomed]:
            del self._subs[key]
        self._outbox = [  # events still to send stay (none, by the definition of expired; a re-send may race)
            e for e in self._outbox if e.instance_id not in doomed or e.status in BLOCKING_OUTBOX_STATUSES
        ]
        return len(doomed)

    # -- history ------------------------------------------------------------------------------------------------

    async def get_history(self, instance_id: str, *, iteration: int | None = None) -> list[HistoryEvent]:
        check_key(instance_id, "instance id")
        return self._history_of(instance_id, iteration)

    async def get_instances(self, instance_ids: Sequence[str]) -> dict[str, InstanceRecord]:
        """The existing instances of ``instance_ids``, by id (one read for many awaited results)."""
        for iid in instance_ids:
            check_key(iid, "instance id")
        found = {}
        for iid in dict.fromkeys(instance_ids):
            record = await self.get_instance(iid)
            if record is not None:
                found[iid] = record
        return found

    async def get_histories(self, instance_ids: Sequence[str]) -> dict[str, list[HistoryEvent]]:
        """The current history of each existing instance of ``instance_ids`` (one read for a batch)."""
        for iid in instance_ids:
            check_key(iid, "instance id")
        return {iid: self._history_of(iid, None) for iid in dict.fromkeys(instance_ids) if iid in self._instances}

    def _history_of(self, instance_id: str, iteration: int | None) -> list[HistoryEvent]:
        if iteration is None:
            row = self._instances.get(instance_id)
            if row is None:
                return []
            iteration = int(row["iteration"])
        key = (instance_id, iteration)
        return [replace(e, event_data=_thaw(e.event_data)) for e in self._history_by_instance.get(key, [])]

    # -- the unit of work ---------------------------------------------------------------------------------------

    async def commit_step(self, commit: StepCommit, *, tx: Transaction | None = None) -> StepOutcome:
        if tx is not None and not isinstance(tx, _MemoryTransaction):
            raise TypeError(
                "tx must be an InMemoryStorage transaction (_MemoryTransaction, from this storage's begin() or "
                f"transaction()), got {type(tx).__name__}"
            )
        prepared = self._prepare(commit)  # validates and encodes everything first: a bad value writes nothing
        if tx is None:
            return self._apply(commit, prepared)
        row = self._fenced_row(commit.fence)  # fail early; checked again at commit
        self._check_subscriptions(commit)
        tx.ops.append(
            (
                lambda: (self._fenced_row(commit.fence), self._check_subscriptions(commit)),
                lambda: self._apply(commit, prepared),
            )
        )
        return StepOutcome(cancel_requested=row["cancel_requested"])

    def _prepare(self, commit: StepCommit) -> dict[str, Any]:
        check_commit(commit)
        history = [(h, self._check(_freeze(h.event_data)), h.payload) for h in commit.history]
        for _h, _data, payload in history:
            if payload is not None:
                self._check(payload)
        changes = commit.update.changes() if commit.update is not None else {}
        for key in _JSON_COLUMNS:
            if key in changes:
                changes[key] = self._check(_freeze(changes[key]))
        outbox = [(o, self._check(_freeze(o.data))) for o in commit.outbox]
        messages = [(m, self._check(_freeze(m.data)), _freeze(m.metadata)) for m in commit.messages]
        return {"history": history, "changes": changes, "outbox": outbox, "messages": messages}

    def _apply(self, commit: StepCommit, prepared: dict[str, Any]) -> StepOutcome:
        row = self._fenced_row(commit.fence)
        self._check_subscriptions(commit)
        iid = commit.fence.instance_id
        iteration = row["iteration"]  # the commit's history belongs to the iteration it was made in
        row.update(prepared["changes"])  # a new ``iteration`` starts an empty history; older iterations stay stored
        if commit.update is not None and commit.update.release_lease:
            row["owner_id"] = None
            row["lease_expires_at"] = None
        row["updated_at"] = commit.now
        for h, data, payload in prepared["history"]:
            self._append_history(iid, iteration, h.activity_id, h.event_type, data, payload, commit.now)
        for o, data in prepared["outbox"]:
            self._outbox_seq += 1
            self._outbox.append(
                OutboxEvent(
                    seq=self._outbox_seq,
                    event_id=o.event_id,
                    event_type=o.event_type,
                    event_source=o.event_source,
                    data=data,
                    content_type=o.content_type,
                    created_at=commit.now,
                    instance_id=iid,
                    extensions=dict(o.extensions),
                )
            )
        for change in commit.subscriptions:
            if isinstance(change, Subscribe):
                self._subscribe(iid, change.channel, change.mode)
            else:
                self._subs.pop((iid, change.channel), None)
                self._anchors[iid] = self._msg_seq
        if row["status"] in FINISHED_STATUSES:
            for key in [k for k in self._subs if k[0] == iid]:
                del self._subs[key]
        woken: list[str] = []
        for message, data, metadata in prepared["messages"]:
            woken += self._publish(message, data, metadata, commit.now)[1]
        return StepOutcome(cancel_requested=row["cancel_requested"], woken=tuple(dict.fromkeys(woken)))

    def _append_history(
        self,
        iid: str,
        iteration: int,
        activity_id: str,
        event_type: str,
        data: Any,
        payload: bytes | None,
        now: datetime,
    ) -> None:
        self._seq += 1
        event = HistoryEvent(
            instance_id=iid,
            seq=self._seq,
            activity_id=activity_id,
            event_type=event_type,
            event_data=data,
            created_at=now,
            iteration=iteration,
            payload=payload,
        )
        self._history.append(event)
        self._history_by_instance.setdefault((iid, iteration), []).append(event)

    # -- channels -----------------------------------------------------------------------------------------------

    def _channel_mode(self, channel: str) -> str | None:
        for (_iid, ch), sub in self._subs.items():
            if ch == channel and sub["mode"] != "direct":
                return sub["mode"]
        return None

    def _check_subscriptions(self, commit: StepCommit) -> None:
        for change in commit.subscriptions:
            if isinstance(change, Subscribe) and change.mode not in (None, "direct"):
                current = self._channel_mode(change.channel)
                if current is not None and current != change.mode:
                    raise ChannelModeConflictError(
                        f"Channel {change.channel!r} is already used in {current!r} mode; it cannot also be "
                        f"subscribed in {change.mode!r} mode. Use one mode per channel (or another channel name)."
                    )

    def _subscribe(self, iid: str, channel: str, mode: str | None) -> dict[str, Any]:
        existing = self._subs.get((iid, channel))
        if existing is not None and (mode is None or existing["mode"] == mode):
            return existing
        resolved = mode or self._channel_mode(channel) or "broadcast"
        sub = {"mode": resolved, "cursor": self._anchors.get(iid, self._msg_seq), "waiting_since": None}
        self._subs[(iid, channel)] = sub
        return sub

    def _publish(
        self, message: NewMessage, data: Any, metadata: Any, now: datetime
    ) -> tuple[dict[str, Any], list[str]]:
        self._msg_seq += 1
        row = {
            "seq": self._msg_seq,
            "message_id": message.message_id,
            "channel": message.channel,
            "data": data,
            "metadata": metadata,
            "published_at": now,
            "target": message.target_instance_id,
            "claimed_by": None,
        }
        self._messages.append(row)
        self._message_ids[message.message_id] = row
        waiting = sorted(
            (
                (sub["waiting_since"], iid, sub)
                for (iid, ch), sub in self._subs.items()
                if ch == message.channel and sub["waiting_since"] is not None
            ),
            key=lambda item: (item[0], item[1]),
        )
        if message.target_instance_id is not None:
            targets = [iid for _since, iid, _sub in waiting if iid == message.target_instance_id]
        else:
            broadcast = [iid for _since, iid, sub in waiting if sub["mode"] == "broadcast"]
            competing = [iid for _since, iid, sub in waiting if sub["mode"] == "competing"]
            unclaimed = sum(
                1
                for m in self._messages
                if m["channel"] == message.channel and m["target"] is None and m["claimed_by"] is None
            )
            targets = broadcast + competing[:unclaimed]
        woken = []
        for iid in targets:
            inst = self._instances.get(iid)
            if inst is not None and inst["status"] in WAITING_STATUSES:
                inst["wake_at"] = now
                woken.append(iid)
        return row, woken

    def _message_record(self, row: dict[str, Any]) -> ChannelMessageRecord:
        return ChannelMessageRecord(
            seq=row["seq"],
            message_id=row["message_id"],
            channel=row["channel"],
            data=_thaw(row["data"]),
            metadata=_thaw(row["metadata"]),
            published_at=row["published_at"],
            target_instance_id=row["target"],
        )

    async def publish(self, message: NewMessage, *, now: datetime) -> tuple[ChannelMessageRecord, tuple[str, ...]]:
        check_key(message.channel, "channel name")
        check_key(message.target_instance_id, "target instance id")
        check_text(message.message_id, "message id")
        data = self._check(_freeze(message.data))
        stored = self._message_ids.get(message.message_id)
        if stored is not None:  # a message id is stored once: the same event delivered again wakes nobody
            return self._message_record(stored), ()
        row, woken = self._publish(message, data, _freeze(message.metadata), now)
        return self._message_record(row), tuple(woken)

    async def receive_or_wait(
        self, commit: StepCommit, *, channel: str, step_id: str, wait: InstanceUpdate | None
    ) -> ChannelMessageRecord | None:
        check_key(channel, "channel name")
        check_text(step_id, "step id")
        prepared = self._prepare(commit)
        wait_changes = self._prepare(StepCommit(fence=commit.fence, now=commit.now, update=wait))["changes"]
        self._apply(commit, prepared)
        iid = commit.fence.instance_id
        sub = self._subscribe(iid, channel, None) if (iid, channel) not in self._subs else self._subs[(iid, channel)]
        found = None
        for m in self._messages:
            if m["channel"] != channel or m["claimed_by"] is not None:
                continue
            if m["target"] is not None:
                if m["target"] == iid:
                    found = m
                    break
                continue
            if sub["mode"] == "competing" or (sub["mode"] == "broadcast" and m["seq"] > sub["cursor"]):
                found = m
                break
        row = self._instances[iid]
        if found is None:
            if wait is not None:
                row.update(wait_changes)
                if wait.release_lease:
                    row["owner_id"] = None
                    row["lease_expires_at"] = None
                sub["waiting_since"] = commit.now
            return None
        if found["target"] is not None or sub["mode"] == "competing":
            found["claimed_by"] = iid
        else:
            sub["cursor"] = found["seq"]
        sub["waiting_since"] = None
        record = self._message_record(found)
        is_bytes = isinstance(record.data, bytes)
        event_data = {
            "channel": channel,
            "message_id": record.message_id,
            "seq": record.seq,
            "data": None if is_bytes else record.data,
            "metadata": record.metadata,
            "published_at": record.published_at.isoformat(),
            "target_instance_id": record.target_instance_id,
        }
        if is_bytes:
            event_data["data_encoding"] = "bytes"
        self._append_history(
            iid,
            row["iteration"],
            step_id,
            HistoryEventType.MESSAGE_RECEIVED,
            _freeze(event_data),
            record.data if is_bytes else None,
            commit.now,
        )
        return record

    async def cleanup_messages(self, *, older_than: datetime) -> int:
        def delivered(m: dict[str, Any]) -> bool:  # or nobody can ever take it: its target is unknown or finished
            if m["target"] is not None and m["claimed_by"] is None:
                target = self._instances.get(m["target"])
                return target is None or target["status"] in FINISHED_STATUSES
            if m["target"] is not None or self._channel_mode(m["channel"]) == "competing":
                return m["claimed_by"] is not None
            cursors = [
                sub["cursor"]
                for (_i, ch), sub in self._subs.items()
                if ch == m["channel"] and sub["mode"] == "broadcast"
            ]
            return all(c >= m["seq"] for c in cursors)

        keep = [m for m in self._messages if m["published_at"] >= older_than or not delivered(m)]
        removed = len(self._messages) - len(keep)
        self._messages = keep
        self._message_ids = {m["message_id"]: m for m in keep}
        return removed

    # -- workers and timers -------------------------------------------------------------------------------------

    async def register_worker(self, worker_id: str) -> None:
        check_key(worker_id, "worker id")

    async def unregister_worker(self, worker_id: str) -> None:
        return None

    async def next_wake_at(self) -> datetime | None:
        return self._next_wake_at(None)

    async def next_wake_at_of(self, workflow_names: Collection[str]) -> datetime | None:
        return self._next_wake_at(workflow_name_set(workflow_names))

    def _next_wake_at(self, names: frozenset[str] | None) -> datetime | None:
        due = [
            r["wake_at"]
            for r in self._instances.values()
            if r["wake_at"] is not None
            and r["owner_id"] is None
            and r["status"] not in FINISHED_STATUSES
            and (names is None or r["workflow_name"] in names)
        ]
        return min(due) if due else None

    def _fenced_row(self, fence: Fence) -> dict[str, Any]:
        row = self._instances.get(fence.instance_id)
        if row is None or row["owner_id"] != fence.worker_id or row["lease_epoch"] != fence.epoch:
            raise LeaseLostError(
                f"Worker {fence.worker_id!r} no longer holds instance {fence.instance_id!r} "
                f"(lease epoch {fence.epoch}); another worker took it over, so this write was rejected."
            )
        return row

    def _check(self, frozen: Any) -> Any:
        limit = self.capabilities.max_payload_bytes
        if limit is not None and _size(frozen) > limit:
            raise PayloadTooLargeError(
                f"A stored value is {_size(frozen):,} bytes, over this storage's limit of {limit:,} bytes "
                f"(max_payload_bytes). Store large blobs elsewhere and pass a reference."
            )
        return frozen

    # -- leases -------------------------------------------------------------------------------------------------

    async def claim_instance(
        self, instance_id: str, *, worker_id: str, now: datetime, lease_expires_at: datetime
    ) -> InstanceRecord | None:
        check_key(instance_id, "instance id")
        check_key(worker_id, "worker id")
        row = self._instances.get(instance_id)
        if row is None or row["status"] in FINISHED_STATUSES:
            return None
        if row["owner_id"] not in (None, worker_id) and row["lease_expires_at"] > now:
            return None
        self._take(row, worker_id, lease_expires_at, now)
        return self._record(row)

    async def claim_runnable(
        self, *, worker_id: str, now: datetime, lease_expires_at: datetime, limit: int
    ) -> list[InstanceRecord]:
        return self._claim_runnable(None, worker_id, now, lease_expires_at, limit)

    async def claim_runnable_of(
        self,
        workflow_names: Collection[str],
        *,
        worker_id: str,
        now: datetime,
        lease_expires_at: datetime,
        limit: int,
    ) -> list[InstanceRecord]:
        return self._claim_runnable(workflow_name_set(workflow_names), worker_id, now, lease_expires_at, limit)

    def _claim_runnable(
        self, names: frozenset[str] | None, worker_id: str, now: datetime, lease_expires_at: datetime, limit: int
    ) -> list[InstanceRecord]:
        check_key(worker_id, "worker id")
        claimed: list[InstanceRecord] = []
        candidates = sorted(self._instances.values(), key=lambda r: (r["wake_at"] or r["updated_at"], r["instance_id"]))
        for row in candidates:
            if len(claimed) >= limit:
                break
            if row["status"] in FINISHED_STATUSES or (names is not None and row["workflow_name"] not in names):
                continue
            if row["owner_id"] is not None and row["lease_expires_at"] > now:
                continue
            due = row["wake_at"] is not None and row["wake_at"] <= now
            if row["status"] in ACTIVE_STATUSES or row["cancel_requested"] or due:
                self._take(row, worker_id, lease_expires_at, now)
                claimed.append(self._record(row))
        return claimed

    @staticmethod
    def _take(row: dict[str, Any], worker_id: str, lease_expires_at: datetime, now: datetime) -> None:
        row["owner_id"] = worker_id
        row["lease_epoch"] += 1
        row["lease_expires_at"] = lease_expires_at
        row["updated_at"] = now

    async def renew_leases(self, fences: list[Fence], *, lease_expires_at: datetime) -> set[str]:
        renewed: set[str] = set()
        for fence in fences:
            row = self._instances.get(fence.instance_id)
            if row is not None and row["owner_id"] == fence.worker_id and row["lease_epoch"] == fence.epoch:
                row["lease_expires_at"] = lease_expires_at
                renewed.add(fence.instance_id)
        return renewed

    async def release_foreign_leases(self, *, worker_id: str) -> int:
        count = 0
        for row in self._instances.values():
            if row["owner_id"] is not None and row["owner_id"] != worker_id:
                row["owner_id"] = None
                row["lease_expires_at"] = None
                count += 1
        return count

    # -- outbox -------------------------------------------------------------------------------------------------

    async def list_outbox(self, *, status: str | None = None, limit: int = 100) -> list[OutboxEvent]:
        events = [e for e in self._outbox if status is None or e.status == status][:limit]
        return [replace(e, data=_thaw(e.data)) for e in events]

    async def get_outbox_event(self, event_id: str) -> OutboxEvent | None:
        check_key(event_id, "outbox event id")
        for event in self._outbox:
            if event.event_id == event_id:
                return replace(event, data=_thaw(event.data))
        return None

    async def claim_outbox(
        self, *, worker_id: str, now: datetime, claim_expires_at: datetime, limit: int
    ) -> list[OutboxEvent]:
        claimed: list[OutboxEvent] = []
        heads: set[str | None] = set()
        for i, event in enumerate(self._outbox):
            if len(claimed) >= limit:
                break
            if event.status not in BLOCKING_OUTBOX_STATUSES:
                continue
            key = event.instance_id if event.instance_id is not None else f"#{event.event_id}"
            if key in heads:
                continue  # an older pending (or failed) event of this instance goes first
            heads.add(key)
            if event.status != "pending":
                continue
            if event.next_attempt_at is not None and event.next_attempt_at > now:
                continue
            if event.claimed_by is not None and event.claim_expires_at is not None and event.claim_expires_at > now:
                continue
            event = replace(event, claimed_by=worker_id, claim_expires_at=claim_expires_at)
            self._outbox[i] = event
            claimed.append(replace(event, data=_thaw(event.data)))
        return claimed

    def _held(self, event_id: str, worker_id: str) -> int | None:
        for i, event in enumerate(self._outbox):
            if event.event_id == event_id:
                return i if event.claimed_by == worker_id and event.status == "pending" else None
        return None

    async def finish_outbox(
        self, event_id: str, *, worker_id: str, status: str, now: datetime, error: str | None = None
    ) -> bool:
        if status not in ("published", "failed", "expired"):
            raise ValueError(f"status must be published, failed or expired, got {status!r}")
        i = self._held(event_id, worker_id)
        if i is None:
            return False
        event = self._outbox[i]
        self._outbox[i] = replace(
            event,
            status=status,
            attempts=event.attempts + (status != "expired"),
            last_error=clean_text(error),
            claimed_by=None,
            claim_expires_at=None,
            published_at=now if status == "published" else None,
        )
        return True

    async def retry_outbox(self, event_id: str, *, worker_id: str, error: str, next_attempt_at: datetime) -> bool:
        i = self._held(event_id, worker_id)
        if i is None:
            return False
        event = self._outbox[i]
        self._outbox[i] = replace(
            event,
            attempts=event.attempts + 1,
            last_error=clean_text(error),
            claimed_by=None,
            claim_expires_at=None,
            next_attempt_at=next_attempt_at,
        )
        return True

    async def resend_outbox(self, event_id: str, *, now: datetime) -> bool:
        check_key(event_id, "outbox event id")
        return self._set_outbox_status(event_id, RESENDABLE_OUTBOX_STATUSES, "pending")

    async def skip_outbox(self, event_id: str, *, now: datetime) -> bool:
        check_key(event_id, "outbox event id")
        return self._set_outbox_status(event_id, SKIPPABLE_OUTBOX_STATUSES, "skipped")

    def _set_outbox_status(self, event_id: str, allowed: frozenset[str], status: str) -> bool:
        for i, event in enumerate(self._outbox):
            if event.event_id == event_id:
                if event.status not in allowed:
                    return False
                reset = {"attempts": 0, "next_attempt_at": None} if status == "pending" else {}
                self._outbox[i] = replace(event, status=status, claimed_by=None, claim_expires_at=None, **reset)
                return True
        return False

    # -- helpers ------------------------------------------------------------------------------------------------

    @staticmethod
    def _record(row: dict[str, Any]) -> InstanceRecord:
        values = dict(row)
        for key in _JSON_COLUMNS:
            values[key] = _thaw(row[key])
        return InstanceRecord(**values)
