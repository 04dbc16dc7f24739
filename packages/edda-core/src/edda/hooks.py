"""Lifecycle hooks for observability (logging, metrics, tracing) without coupling Edda to a tool.

Pass any object to ``EddaApp(hooks=...)``: Edda calls the methods it has (sync or async) and skips the others, so
a partial implementation is fine (``WorkflowHooks`` is a structural protocol). An exception raised by a hook is
logged on the ``edda.hooks`` logger and never affects the workflow.

``HooksBase`` also has the hooks a tracer needs (runs, trace context across processes and CloudEvents), which are
not part of the ``WorkflowHooks`` protocol, so a class written against the protocol stays an instance of it.
"""

from __future__ import annotations

from abc import ABC
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

__all__ = ["HooksBase", "RunOutcome", "WorkflowHooks"]


class RunOutcome(StrEnum):
    """How a run of an instance ended (:meth:`HooksBase.on_workflow_run_end`)."""

    FINISHED = "finished"  # completed, failed or cancelled: that hook was called just before
    SUSPENDED = "suspended"  # it waits for a timer, an event or a message
    RECURRED = "recurred"  # ctx.recur(): the next iteration's run follows at once
    INTERRUPTED = "interrupted"  # lease lost, storage failure, worker stopped: it resumes from history


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
    """Base class with a no-op for every hook; override the ones you need.

    Besides the :class:`WorkflowHooks` methods it has the hooks for tracing (see docs/hooks.md, "Runs and trace
    context"): :meth:`on_workflow_run_start`, :meth:`on_workflow_run_end`, :meth:`workflow_trace_context`,
    :meth:`event_trace_context`, :meth:`on_cloudevent_dispatch` and :meth:`on_cloudevent_received`.
    """

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

    # -- runs and trace context (not in the WorkflowHooks protocol) ------------------------------------------------

    async def on_workflow_run_start(
        self, instance_id: str, workflow_name: str, trace_context: dict[str, str] | None
    ) -> None:
        """A run of the instance begins on this worker: its first run, or a later one (after a wait, a crash, a
        restart, or ``ctx.recur()``). Called in the task that runs the workflow code, before it runs.

        ``trace_context`` is what :meth:`workflow_trace_context` returned for the instance's first run, kept in its
        history, so every run, in any process, gets the same one (``None`` when the hooks gave none).
        """
        return None

    async def on_workflow_run_end(self, instance_id: str, workflow_name: str, outcome: RunOutcome) -> None:
        """The run ends; ``outcome`` (a :class:`RunOutcome`, a ``str``) says how: ``"finished"`` (completed, failed
        or cancelled: that hook was called just before), ``"suspended"`` (it waits for a timer, an event or a
        message), ``"recurred"`` (``ctx.recur()``) or ``"interrupted"`` (the lease was lost, the storage failed, or
        the worker stopped: it resumes from history)."""
        return None

    def workflow_trace_context(self, instance_id: str, workflow_name: str) -> dict[str, str] | None:
        """The trace context under which every run of a new instance is recorded (e.g. W3C ``traceparent``), or
        ``None``. Asked once per instance, at its first run; Edda keeps the dict in the instance's history (a
        ``TraceContext`` note) and hands it to :meth:`on_workflow_run_start` on every run."""
        return None

    def event_trace_context(self, instance_id: str | None) -> dict[str, str] | None:
        """The trace context of a CloudEvent being sent now (``send_event``, ``send_event_transactional``), or
        ``None``. Its keys become extension attributes of the event (``traceparent``, ``tracestate``: the CloudEvents
        distributed-tracing extension); ``instance_id`` is ``None`` outside workflows."""
        return None

    async def on_cloudevent_dispatch(self, event: Any) -> None:
        """An incoming CloudEvent (a read-only ``CloudEvent`` mapping, extensions included, with ``.data``) is about
        to be handed to an ``on_event`` handler or to start an event-handler workflow. Called in the task that then
        does that (one per handler and per workflow started), so a context variable set here applies to it."""
        return None

    async def on_outbox_delivery(self, event: Any, outcome: str, error: str | None) -> None:
        """The outbox relayer recorded what became of an attempt to send ``event`` (an
        :class:`edda.storage.records.OutboxEvent`, as claimed: ``attempts`` counts the attempts before this one).
        ``outcome``: ``"published"``; ``"retried"`` (a transient failure: it is sent again after a backoff);
        ``"failed"`` (a permanent failure, or retries exhausted: it holds back the later events of its instance until
        it is re-sent or skipped, see docs/outbox.md); ``"expired"`` (older than ``max_age_hours``). ``error`` says
        why it was not published (``None`` when it was, on the first attempt). Called in the relayer's task, after the
        outcome is stored."""
        return None

    async def on_cloudevent_received(self, instance_id: str, event: Any) -> None:
        """``wait_event`` of the instance received ``event`` (a :class:`edda.ReceivedEvent`, with its
        ``extensions``). Called once, in the run that received it, not again when the wait is replayed."""
        return None
