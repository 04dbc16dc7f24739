"""What the generated tools and MCP tasks report about a workflow instance, read from its stored record and history."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from edda.storage.protocol import Storage
from edda.storage.records import (
    ACTIVE_STATUSES,
    FINISHED_STATUSES,
    HistoryEvent,
    HistoryEventType,
    InstanceRecord,
    InstanceStatus,
)

__all__ = ["ACTIVE_POLL_MS", "IDLE_POLL_MS", "Progress", "TaskStatus", "jsonable", "read_progress"]

ACTIVE_POLL_MS = 5000
"""Suggested poll interval while the instance is running (as 0.16 suggested)."""
IDLE_POLL_MS = 10000
"""Suggested poll interval while it waits (or once it finished)."""

TaskStatus = Literal["working", "input_required", "completed", "failed", "cancelled"]


@dataclass(frozen=True)
class Progress:
    """One instance as the tools describe it."""

    record: InstanceRecord
    completed_activities: int
    compensations_executed: tuple[str, ...]
    last_step: str | None

    @property
    def instance_id(self) -> str:
        return self.record.instance_id

    @property
    def workflow_name(self) -> str:
        return self.record.workflow_name

    @property
    def status(self) -> str:
        return self.record.status

    @property
    def finished(self) -> bool:
        return self.record.status in FINISHED_STATUSES

    @property
    def poll_interval_ms(self) -> int:
        return ACTIVE_POLL_MS if self.record.status in ACTIVE_STATUSES else IDLE_POLL_MS

    @property
    def current_activity(self) -> str:
        """The step the instance is at: what it waits for, else the last recorded step (``"none yet"``)."""
        wait: Mapping[str, Any] = self.record.wait or {}
        if self.record.status not in FINISHED_STATUSES and wait:
            step = wait.get("step_id") or "?"
            kind = wait.get("kind")
            if kind == "timer":
                return f"{step} (sleeping until {wait.get('wake_at')})"
            if kind == "event":
                return f"{step} (waiting for event '{wait.get('channel')}')"
            return f"{step} (waiting for a message on channel '{wait.get('channel')}')"
        return self.last_step or "none yet"

    @property
    def task_status(self) -> TaskStatus:
        """The MCP task status (2025-11-25): a waiting workflow is still ``working`` (it waits for the world, not
        for the client)."""
        status = self.record.status
        if status == InstanceStatus.COMPLETED:
            return "completed"
        if status == InstanceStatus.FAILED:
            return "failed"
        if status == InstanceStatus.CANCELLED:
            return "cancelled"
        return "working"

    @property
    def error_text(self) -> str:
        error: Mapping[str, Any] = self.record.error or {}
        return f"{error.get('error_type', 'Error')}: {error.get('message', '')}".rstrip(": ")

    @property
    def summary(self) -> str:
        """One line for a task's ``statusMessage``."""
        status = self.record.status
        done = f"{self.completed_activities} activit{'y' if self.completed_activities == 1 else 'ies'} completed"
        if status == InstanceStatus.COMPLETED:
            return f"completed; {done}"
        if status == InstanceStatus.FAILED:
            return f"failed: {self.error_text}"
        if status == InstanceStatus.CANCELLED:
            return f"cancelled; compensations executed: {len(self.compensations_executed)}"
        return f"{status}; {done}; current: {self.current_activity}"

    def result_value(self) -> Any:
        """The stored result as JSON (top-level bytes as ``{"base64": ...}``)."""
        return jsonable(self.record.output_data)

    def task(self) -> dict[str, Any]:
        """The MCP ``Task`` object (wire form, 2025-11-25) whose id is the instance id."""
        return {
            "taskId": self.instance_id,
            "status": self.task_status,
            "statusMessage": self.summary,
            "createdAt": _iso(self.record.created_at),
            "lastUpdatedAt": _iso(self.record.updated_at),
            "ttl": None,  # the history stays in the database until you delete it
            "pollInterval": self.poll_interval_ms,
        }


def jsonable(value: Any) -> Any:
    """A stored value as JSON: top-level bytes become ``{"base64": "..."}``."""
    if isinstance(value, bytes):
        return {"base64": base64.b64encode(value).decode("ascii")}
    return value


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _summarize(history: list[HistoryEvent]) -> tuple[int, tuple[str, ...], str | None]:
    completed = 0
    compensations: list[str] = []
    for event in history:
        if event.event_type == HistoryEventType.ACTIVITY_COMPLETED:
            completed += 1
        elif event.event_type == HistoryEventType.COMPENSATION_EXECUTED:
            compensations.append(str(event.event_data.get("compensation_name") or event.activity_id))
    last = history[-1].activity_id if history else None
    return completed, tuple(compensations), last


async def read_progress(storage: Storage, instance_id: str) -> Progress | None:
    """The instance's progress, or ``None`` if there is no such instance."""
    record = await storage.get_instance(instance_id)
    if record is None:
        return None
    completed, compensations, last = _summarize(await storage.get_history(instance_id))
    return Progress(record=record, completed_activities=completed, compensations_executed=compensations, last_step=last)
