"""The answers of the generated tools: text for the model to read, the same facts as structured content for programs.

The texts keep edda-framework 0.16's shapes (``Instance ID: ...``, ``Workflow Status``, ``Current Activity``,
``Completed Activities``, ``Suggested Poll Interval``, ``Workflow Result:``); every answer is an error
(``isError``) unless it did what was asked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from mcp_types import CallToolResult, TextContent

from edda.storage.records import InstanceStatus
from edda_mcp._progress import Progress

__all__ = ["ToolNames", "cancel_reply", "error_reply", "result_reply", "started_reply", "status_reply"]


@dataclass(frozen=True)
class ToolNames:
    """The four tool names of one durable tool (its workflow's name, plus ``_status``, ``_result``, ``_cancel``)."""

    workflow: str

    @property
    def start(self) -> str:
        return self.workflow

    @property
    def status(self) -> str:
        return f"{self.workflow}_status"

    @property
    def result(self) -> str:
        return f"{self.workflow}_result"

    @property
    def cancel(self) -> str:
        return f"{self.workflow}_cancel"

    def all(self) -> tuple[str, str, str, str]:
        return self.start, self.status, self.result, self.cancel


def _reply(text: str, structured: dict[str, Any] | None = None, *, is_error: bool = False) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(type="text", text=text)], structured_content=structured, is_error=is_error
    )


def error_reply(text: str) -> CallToolResult:
    """An answer that says what went wrong (``isError``)."""
    return _reply(text, is_error=True)


def started_reply(names: ToolNames, instance_id: str) -> CallToolResult:
    text = (
        f"Workflow '{names.workflow}' started.\n"
        f"Instance ID: {instance_id}\n\n"
        f'Use {names.status} with instance_id="{instance_id}" to check its progress, {names.result} to get its '
        f"result once it has completed, and {names.cancel} to cancel it. The workflow is durable: it keeps running "
        f"(and survives restarts) whether or not you poll."
    )
    return _reply(text, {"instance_id": instance_id, "workflow": names.workflow, "status": "started"})


def status_reply(names: ToolNames, progress: Progress) -> CallToolResult:
    lines = [
        f"Workflow Status: {progress.status}",
        f"Current Activity: {progress.current_activity}",
        f"Completed Activities: {progress.completed_activities}",
        f"Suggested Poll Interval: {progress.poll_interval_ms}ms",
        f"Instance ID: {progress.instance_id}",
        "",
    ]
    status = progress.status
    if status == InstanceStatus.COMPLETED:
        lines.append(f"The workflow has completed: use {names.result} to get its result.")
    elif status == InstanceStatus.FAILED:
        lines.append(f"The workflow failed: {progress.error_text}")
    elif status == InstanceStatus.CANCELLED:
        lines.append(f"The workflow was cancelled; compensations executed: {len(progress.compensations_executed)}.")
    else:
        lines.append(f"Still in progress: call {names.status} again in about {progress.poll_interval_ms // 1000}s.")
    structured = {
        "instance_id": progress.instance_id,
        "workflow": progress.workflow_name,
        "status": status,
        "current_activity": progress.current_activity,
        "completed_activities": progress.completed_activities,
        "suggested_poll_interval_ms": progress.poll_interval_ms,
        "finished": progress.finished,
    }
    return _reply("\n".join(lines), structured)


def result_reply(names: ToolNames, progress: Progress) -> CallToolResult:
    status = progress.status
    base: dict[str, Any] = {"instance_id": progress.instance_id, "workflow": progress.workflow_name, "status": status}
    if status == InstanceStatus.COMPLETED:
        value = progress.result_value()
        text = "Workflow Result:\n" + json.dumps(value, indent=2, ensure_ascii=False, default=str)
        return _reply(text, {**base, "result": value})
    if status == InstanceStatus.FAILED:
        return _reply(
            f"The workflow failed: {progress.error_text}", {**base, "error": progress.error_text}, is_error=True
        )
    if status == InstanceStatus.CANCELLED:
        executed = len(progress.compensations_executed)
        return _reply(f"The workflow was cancelled (compensations executed: {executed}).", base, is_error=True)
    text = (
        f"The workflow has not completed yet (status: {status}). Use {names.status} to follow its progress "
        f"(suggested poll interval: {progress.poll_interval_ms}ms)."
    )
    return _reply(text, base, is_error=True)


def cancel_reply(names: ToolNames, progress: Progress) -> CallToolResult:
    compensations = progress.compensations_executed
    structured = {
        "instance_id": progress.instance_id,
        "workflow": progress.workflow_name,
        "status": progress.status,
        "compensations_executed": list(compensations),
    }
    if progress.status == InstanceStatus.CANCELLED:
        listed = f" ({', '.join(compensations)})" if compensations else ""
        text = (
            f"Workflow cancelled.\nInstance ID: {progress.instance_id}\n"
            f"Compensations executed: {len(compensations)}{listed}"
        )
        return _reply(text, structured)
    text = (
        f"Cancellation requested.\nInstance ID: {progress.instance_id}\n"
        f"The workflow is in the middle of a step (status: {progress.status}); it stops at its next step and its "
        f"compensations run then. Use {names.status} to follow it."
    )
    return _reply(text, structured)
