"""Shared builders of the conformance kit: records for the instance ``i-1`` owned by ``worker-a`` at ``T0``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from edda.storage.records import (
    Fence,
    HistoryEventType,
    InstanceUpdate,
    NewHistoryEvent,
    NewInstance,
    NewMessage,
    NewOutboxEvent,
    StepCommit,
    Subscribe,
    Unsubscribe,
)

__all__ = ["OTHER", "T0", "WORKER", "completed", "new_instance", "step"]

T0 = datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)
WORKER = "worker-a"
OTHER = "worker-b"


def new_instance(
    instance_id: str = "i-1",
    *,
    name: str = "wf",
    input_data: dict[str, Any] | None = None,
    now: datetime = T0,
    owner: str = WORKER,
    lease: float = 30,
) -> NewInstance:
    return NewInstance(
        instance_id=instance_id,
        workflow_name=name,
        input_data=input_data if input_data is not None else {"x": 1},
        owner_id=owner,
        now=now,
        lease_expires_at=now + timedelta(seconds=lease),
    )


def step(
    instance_id: str = "i-1",
    *,
    epoch: int = 1,
    worker: str = WORKER,
    now: datetime = T0,
    history: tuple[NewHistoryEvent, ...] = (),
    update: InstanceUpdate | None = None,
    outbox: tuple[NewOutboxEvent, ...] = (),
    messages: tuple[NewMessage, ...] = (),
    subscriptions: tuple[Subscribe | Unsubscribe, ...] = (),
) -> StepCommit:
    return StepCommit(
        fence=Fence(instance_id, worker, epoch),
        now=now,
        history=history,
        update=update,
        outbox=outbox,
        messages=messages,
        subscriptions=subscriptions,
    )


def completed(activity_id: str, result: Any = None, **extra: Any) -> NewHistoryEvent:
    return NewHistoryEvent(
        activity_id,
        HistoryEventType.ACTIVITY_COMPLETED,
        {"activity_name": activity_id.split(":")[0], "result": result, **extra},
    )
