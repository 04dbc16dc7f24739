"""Lifecycle hooks for observability (logging, metrics, tracing) without coupling Edda to a tool.

Pass any object to ``EddaApp(hooks=...)``: Edda calls the methods it has (sync or async) and skips the others, so
a partial implementation is fine (``WorkflowHooks`` is a structural protocol). An exception raised by a hook is
logged on the ``edda.hooks`` logger and never affects the workflow.
"""

from __future__ import annotations

from abc import ABC
from typing import Any, Protocol, runtime_checkable

__all__ = ["HooksBase", "WorkflowHooks"]


@runtime_checkable
class WorkflowHooks(Protocol):
    """Callbacks at the moments of a workflow's life. Implement only those you need."""

    async def on_workflow_start(self, instance_id: str, workflow_name: str, input_data: dict[str, Any]) -> None:
        """A new instance was created and is about to run (not called again when it resumes)."""

    async def on_workflow_complete(self, instance_id: str, workflow_name: str, result: Any) -> None:
        """The instance completed; ``result`` is its return value."""

    async def on_workflow_failed(self, instance_id: str, workflow_name: str, error: Exception) -> None:
        """The instance failed (after its compensations ran)."""

    async def on_workflow_cancelled(self, instance_id: str, workflow_name: str) -> None:
        """The instance was cancelled (after its compensations ran)."""

    async def on_activity_start(
        self, instance_id: str, activity_id: str, activity_name: str, is_replaying: bool
    ) -> None:
        """An activity is about to run, or to return its recorded result when ``is_replaying``."""

    async def on_activity_complete(
        self, instance_id: str, activity_id: str, activity_name: str, result: Any, cache_hit: bool
    ) -> None:
        """An activity returned; ``cache_hit`` is true when the result came from history."""

    async def on_activity_failed(
        self, instance_id: str, activity_id: str, activity_name: str, error: Exception
    ) -> None:
        """An activity failed for good (terminal error or retries exhausted)."""

    async def on_activity_retry(
        self, instance_id: str, activity_id: str, activity_name: str, error: Exception, attempt: int, delay: float
    ) -> None:
        """Attempt ``attempt`` failed with ``error``; the next one starts after ``delay`` seconds."""

    async def on_event_received(self, instance_id: str, event_type: str, event_data: Any) -> None:
        """A waiting instance received the event it waited for."""

    async def on_event_sent(self, event_type: str, event_source: str, event_data: Any) -> None:
        """An event was written to the transactional outbox."""


class HooksBase(WorkflowHooks, ABC):
    """Base class with a no-op for every hook; override the ones you need."""

    async def on_workflow_start(self, instance_id: str, workflow_name: str, input_data: dict[str, Any]) -> None:
        return None

    async def on_workflow_complete(self, instance_id: str, workflow_name: str, result: Any) -> None:
        return None

    async def on_workflow_failed(self, instance_id: str, workflow_name: str, error: Exception) -> None:
        return None

    async def on_workflow_cancelled(self, instance_id: str, workflow_name: str) -> None:
        return None

    async def on_activity_start(
        self, instance_id: str, activity_id: str, activity_name: str, is_replaying: bool
    ) -> None:
        return None

    async def on_activity_complete(
        self, instance_id: str, activity_id: str, activity_name: str, result: Any, cache_hit: bool
    ) -> None:
        return None

    async def on_activity_failed(
        self, instance_id: str, activity_id: str, activity_name: str, error: Exception
    ) -> None:
        return None

    async def on_activity_retry(
        self, instance_id: str, activity_id: str, activity_name: str, error: Exception, attempt: int, delay: float
    ) -> None:
        return None

    async def on_event_received(self, instance_id: str, event_type: str, event_data: Any) -> None:
        return None

    async def on_event_sent(self, event_type: str, event_source: str, event_data: Any) -> None:
        return None
