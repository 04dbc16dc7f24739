"""The metrics ``OpenTelemetryHooks(enable_metrics=True)`` records (the names 0.16.2 used, plus
``edda.workflow.cancelled``). Durations are in seconds. Attributes: ``edda.workflow.name`` on all;
``error.type`` on ``edda.workflow.failed``; ``edda.workflow.status`` on ``edda.workflow.duration``;
``edda.activity.name`` on the activity metrics, and ``edda.activity.status`` (``completed``/``failed``) on
``edda.activity.executed`` and ``edda.activity.duration``; ``edda.outbox.outcome`` (``published``, ``retried``,
``failed``, ``expired``) and ``edda.event.type`` on ``edda.outbox.deliveries``.
"""

from __future__ import annotations

from opentelemetry import metrics

__all__ = ["EddaMetrics"]


class EddaMetrics:
    """The instruments, made once from a meter."""

    def __init__(self, meter: metrics.Meter) -> None:
        workflows, activities = "{workflow}", "{activity}"
        self.workflow_started = meter.create_counter(
            "edda.workflow.started", unit=workflows, description="Workflow instances started"
        )
        self.workflow_completed = meter.create_counter(
            "edda.workflow.completed", unit=workflows, description="Workflow instances completed"
        )
        self.workflow_failed = meter.create_counter(
            "edda.workflow.failed", unit=workflows, description="Workflow instances failed (after compensating)"
        )
        self.workflow_cancelled = meter.create_counter(
            "edda.workflow.cancelled", unit=workflows, description="Workflow instances cancelled (after compensating)"
        )
        self.workflow_duration = meter.create_histogram(
            "edda.workflow.duration", unit="s", description="From the start of an instance to its end, waits included"
        )
        self.activity_executed = meter.create_counter(
            "edda.activity.executed", unit=activities, description="Activity executions (not replays) that ended"
        )
        self.activity_cache_hit = meter.create_counter(
            "edda.activity.cache_hit", unit=activities, description="Activities replayed from history, not run"
        )
        self.outbox_deliveries = meter.create_counter(
            "edda.outbox.deliveries", unit="{event}", description="Outcomes of outbox delivery attempts"
        )
        self.activity_duration = meter.create_histogram(
            "edda.activity.duration", unit="s", description="Activity executions, retries and backoff included"
        )
