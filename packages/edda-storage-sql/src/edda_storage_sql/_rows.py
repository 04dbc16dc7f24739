"""Column lists of the ``edda_`` tables and the conversion of their rows into typed records."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from edda.storage.records import ChannelMessageRecord, HistoryEvent, InstanceRecord, OutboxEvent
from edda_storage_sql._codec import decode_json
from edda_storage_sql._dialects import Dialect

__all__ = [
    "HISTORY_COLUMNS",
    "INSTANCE_COLUMNS",
    "MESSAGE_COLUMNS",
    "OUTBOX_COLUMNS",
    "history_from_row",
    "instance_from_row",
    "message_from_row",
    "outbox_from_row",
    "workflow_name_filter",
    "workflow_name_params",
]


def workflow_name_params(workflow_names: Collection[str] | None) -> tuple[int | None, dict[str, str]]:
    """The names of a ``ClaimsByWorkflow`` call as parameters ``wn0``, ``wn1``... (sorted, so that one set of names
    always binds alike), and how many: ``None`` and no parameters for a call without names."""
    if workflow_names is None:
        return None, {}
    names = sorted(workflow_names)
    return len(names), {f"wn{i}": name for i, name in enumerate(names)}


def workflow_name_filter(count: int | None) -> str:
    """`` AND workflow_name IN (:wn0, ...)`` for ``count`` names bound by :func:`workflow_name_params`; ``""`` for
    ``None``."""
    if count is None:
        return ""
    return " AND workflow_name IN (" + ", ".join(f":wn{i}" for i in range(count)) + ")"


INSTANCE_COLUMNS = (
    "instance_id, workflow_name, status, input_data, created_at, updated_at, output_data, output_bytes, error, "
    "completed_at, owner_id, lease_epoch, lease_expires_at, wake_at, wait, cancel_requested, iteration, "
    "lock_timeout_seconds"
)
HISTORY_COLUMNS = "seq, instance_id, iteration, activity_id, event_type, event_data, payload, created_at"
OUTBOX_COLUMNS = (
    "seq, event_id, event_type, event_source, data, data_bytes, content_type, created_at, instance_id, status, "
    "attempts, last_error, next_attempt_at, extensions, claimed_by, claim_expires_at, published_at"
)

MESSAGE_COLUMNS = "seq, message_id, channel, data, data_bytes, metadata, published_at, target_instance_id"


def instance_from_row(row: Sequence[Any], d: Dialect) -> InstanceRecord:
    """An :class:`InstanceRecord` from a row of :data:`INSTANCE_COLUMNS`."""
    ts = d.ts_out
    out_bytes = row[7]
    return InstanceRecord(
        instance_id=row[0],
        workflow_name=row[1],
        status=row[2],
        input_data=decode_json(row[3]),
        created_at=ts(row[4]),  # type: ignore[arg-type]  # NOT NULL column
        updated_at=ts(row[5]),  # type: ignore[arg-type]
        output_data=bytes(out_bytes) if out_bytes is not None else decode_json(row[6]),
        error=decode_json(row[8]),
        completed_at=ts(row[9]),
        owner_id=row[10],
        lease_epoch=int(row[11]),
        lease_expires_at=ts(row[12]),
        wake_at=ts(row[13]),
        wait=decode_json(row[14]),
        cancel_requested=bool(row[15]),
        iteration=int(row[16]),
        lock_timeout_seconds=None if row[17] is None else float(row[17]),
    )


def history_from_row(row: Sequence[Any], d: Dialect) -> HistoryEvent:
    """A :class:`HistoryEvent` from a row of :data:`HISTORY_COLUMNS`."""
    payload = row[6]
    return HistoryEvent(
        instance_id=row[1],
        seq=int(row[0]),
        activity_id=row[3],
        event_type=row[4],
        event_data=decode_json(row[5]),
        created_at=d.ts_out(row[7]),  # type: ignore[arg-type]
        iteration=int(row[2]),
        payload=None if payload is None else bytes(payload),
    )


def outbox_from_row(row: Sequence[Any], d: Dialect) -> OutboxEvent:
    """An :class:`OutboxEvent` from a row of :data:`OUTBOX_COLUMNS`."""
    data_bytes = row[5]
    return OutboxEvent(
        seq=int(row[0]),
        event_id=row[1],
        event_type=row[2],
        event_source=row[3],
        data=bytes(data_bytes) if data_bytes is not None else decode_json(row[4]),
        content_type=row[6],
        created_at=d.ts_out(row[7]),  # type: ignore[arg-type]
        instance_id=row[8],
        status=row[9],
        attempts=int(row[10]),
        last_error=row[11],
        next_attempt_at=d.ts_out(row[12]),
        extensions=decode_json(row[13]) or {},
        claimed_by=row[14],
        claim_expires_at=d.ts_out(row[15]),
        published_at=d.ts_out(row[16]),
    )


def message_from_row(row: Sequence[Any], d: Dialect) -> ChannelMessageRecord:
    """A :class:`ChannelMessageRecord` from a row of :data:`MESSAGE_COLUMNS`."""
    data_bytes = row[4]
    return ChannelMessageRecord(
        seq=int(row[0]),
        message_id=row[1],
        channel=row[2],
        data=bytes(data_bytes) if data_bytes is not None else decode_json(row[3]),
        metadata=decode_json(row[5]) or {},
        published_at=d.ts_out(row[6]),  # type: ignore[arg-type]
        target_instance_id=row[7],
    )
