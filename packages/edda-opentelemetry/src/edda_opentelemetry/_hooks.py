"""``OpenTelemetryHooks``: Edda's lifecycle hooks as OpenTelemetry spans and metrics.

The span tree of one instance (docs/opentelemetry.md shows it):

- ``start_workflow:{name}``, made when the instance is created, under the caller's current span (or the span an
  incoming CloudEvent's ``traceparent`` names, or 0.16.2's ``_trace_context`` in the input); ended at once. Its
  context is the instance's trace context, which Edda keeps in the instance's history.
- ``workflow:{name}``, one per run: the first, and each later one (after a wait, a crash, a restart), in whatever
  process, always a child of that start span, so every run of the instance is in one trace. It is the current span
  while the workflow code runs.
- ``activity:{name}``, one per execution of an activity (not for replays), a child of its run's span and the
  current span while the activity body runs, so spans the body makes (HTTP clients, databases) nest under it.

Spans live in memory only between the hooks of one run, in the task that runs it; nothing here is shared across
processes except through Edda's own history note and the CloudEvents it sends.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from contextvars import Token
from dataclasses import dataclass
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, Status, StatusCode
from opentelemetry.util.types import Attributes

from edda.hooks import HooksBase, RunOutcome
from edda_opentelemetry._metrics import EddaMetrics
from edda_opentelemetry._propagation import (
    LEGACY_KEY,
    carrier_of,
    context_from,
    event_carrier,
    span_context_from,
)
from edda_opentelemetry._providers import meter_provider_for, tracer_provider_for

__all__ = ["OpenTelemetryHooks"]

logger = logging.getLogger("edda.opentelemetry")

SCOPE = "edda"  # the instrumentation scope of every span and metric
STARTED_AT = "started_at_ns"  # when the instance was created (wall clock), kept with its trace context
_MAX_PENDING_STARTS = 10_000  # starts whose first run has not asked for them (e.g. a client-only app starting work)


@dataclass
class _Run:
    span: Span
    token: Token[Context]
    workflow_name: str
    started_ns: int | None
    replayed: int = 0


@dataclass
class _Execution:
    span: Span
    token: Token[Context]
    started: float
    workflow_name: str | None


def _error_status(error: BaseException) -> Status:
    return Status(StatusCode.ERROR, f"{type(error).__name__}: {error}")


def _exception_type(error: BaseException) -> str:
    """As the SDK's ``record_exception`` names it (semantic conventions: the fully qualified class name)."""
    module, name = type(error).__module__, type(error).__qualname__
    return name if module in (None, "builtins") else f"{module}.{name}"


class OpenTelemetryHooks(HooksBase):
    """Traces (and, with ``enable_metrics``, measures) workflows with OpenTelemetry: pass it as
    ``EddaApp(hooks=OpenTelemetryHooks(...))``.

    Where spans go: to ``tracer_provider`` if given; else to the TracerProvider the application set globally; else,
    with ``otlp_endpoint``, to a provider made here that exports over OTLP/gRPC (needs
    ``pip install "edda-opentelemetry[otlp]"``); else to OpenTelemetry's global provider once the application sets
    one (nothing is recorded until then). Metrics follow the same rule with ``meter_provider``. The hooks never
    change OpenTelemetry's global state.

    Args:
        service_name: the ``service.name`` resource attribute of providers made here (with ``otlp_endpoint``).
        otlp_endpoint: the collector's OTLP/gRPC address (``"http://localhost:4317"``), used when the application
            has no provider of its own.
        enable_metrics: record the ``edda.workflow.*`` and ``edda.activity.*`` metrics.
        tracer_provider: record spans to this provider.
        meter_provider: record metrics to this provider.

    Raises:
        ImportError: ``otlp_endpoint`` is needed and the OTLP exporter is not installed (the message has the pip line).
        ValueError, TypeError: an argument has the wrong value or type (the message says which).
    """

    def __init__(
        self,
        service_name: str = "edda",
        otlp_endpoint: str | None = None,
        enable_metrics: bool = False,
        *,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
    ) -> None:
        if not isinstance(service_name, str) or not service_name:
            raise ValueError(f"service_name must be a non-empty string, got {service_name!r}")
        if not isinstance(enable_metrics, bool):
            raise TypeError(f"enable_metrics must be True or False, got {enable_metrics!r}")
        for name, value, method in (
            ("tracer_provider", tracer_provider, "get_tracer"),
            ("meter_provider", meter_provider, "get_meter"),
        ):
            if value is not None and not callable(getattr(value, method, None)):
                raise TypeError(f"{name} must be an OpenTelemetry {name.title().replace('_', '')}, got {value!r}")
        self.service_name = service_name
        provider, owned = tracer_provider_for(service_name, otlp_endpoint, tracer_provider)
        self._tracer = provider.get_tracer(SCOPE)
        self._owned: list[Any] = [owned] if owned is not None else []
        self._metrics: EddaMetrics | None = None
        if enable_metrics:
            meters, owned_meters = meter_provider_for(service_name, otlp_endpoint, meter_provider)
            self._metrics = EddaMetrics(meters.get_meter(SCOPE))
            if owned_meters is not None:
                self._owned.append(owned_meters)
        self._starts: dict[str, dict[str, str]] = {}  # instance -> trace context, until a run of it ends here
        self._first_runs: set[str] = set()
        self._runs: dict[str, _Run] = {}
        self._executions: dict[tuple[str, str], _Execution] = {}

    # -- providers made here ----------------------------------------------------------------------------------

    def force_flush(self, timeout_millis: int = 30_000) -> None:
        """Export what the providers made here (with ``otlp_endpoint``) still buffer."""
        for provider in self._owned:
            provider.force_flush(timeout_millis)

    def shutdown(self) -> None:
        """Flush and shut down the providers made here (they also are at interpreter exit)."""
        for provider in self._owned:
            provider.shutdown()
        self._owned.clear()

    # -- the instance's trace context ---------------------------------------------------------------------------

    def _start_span(self, instance_id: str, workflow_name: str, parent: Context | None) -> dict[str, str]:
        span = self._tracer.start_span(
            f"start_workflow:{workflow_name}",
            context=parent,
            attributes={"edda.workflow.instance_id": instance_id, "edda.workflow.name": workflow_name},
        )
        span.end()
        return carrier_of(trace.set_span_in_context(span))

    async def on_workflow_start(self, instance_id: str, workflow_name: str, input_data: dict[str, Any]) -> None:
        legacy = input_data.get(LEGACY_KEY) if isinstance(input_data, Mapping) else None
        parent = context_from(legacy) if isinstance(legacy, Mapping) else None
        note = self._start_span(instance_id, workflow_name, parent)  # parent None: the caller's current span
        note[STARTED_AT] = str(time.time_ns())
        if len(self._starts) >= _MAX_PENDING_STARTS:
            self._starts.pop(next(iter(self._starts)))
        self._starts[instance_id] = note
        if self._metrics is not None:
            self._metrics.workflow_started.add(1, {"edda.workflow.name": workflow_name})

    def workflow_trace_context(self, instance_id: str, workflow_name: str) -> dict[str, str] | None:
        # Kept until a run of the instance ends other than interrupted: a run retried here after a storage fault
        # before its first commit (which writes this to the history) asks again.
        note = self._starts.get(instance_id)
        if note is not None:
            self._first_runs.add(instance_id)
            return note
        # Started where these hooks did not see it (another process, or before they were installed), with no trace
        # context kept: from now on, its runs share a trace rooted here.
        return self._start_span(instance_id, workflow_name, Context()) or None

    # -- runs -------------------------------------------------------------------------------------------------

    async def on_workflow_run_start(
        self, instance_id: str, workflow_name: str, trace_context: dict[str, str] | None
    ) -> None:
        stale = self._runs.pop(instance_id, None)
        if stale is not None:  # never expected: a run ends before the next one of the same instance starts here
            stale.span.end()
        parent = context_from(trace_context) or Context()  # never the ambient context: it is the waker's
        started = (trace_context or {}).get(STARTED_AT, "")
        span = self._tracer.start_span(
            f"workflow:{workflow_name}",
            context=parent,
            attributes={
                "edda.workflow.instance_id": instance_id,
                "edda.workflow.name": workflow_name,
                "edda.workflow.resumed": instance_id not in self._first_runs,
            },
        )
        self._first_runs.discard(instance_id)
        token = otel_context.attach(trace.set_span_in_context(span))
        self._runs[instance_id] = _Run(span, token, workflow_name, int(started) if started.isdigit() else None)

    async def on_workflow_run_end(self, instance_id: str, workflow_name: str, outcome: RunOutcome) -> None:
        if outcome != RunOutcome.INTERRUPTED:
            self._starts.pop(instance_id, None)
        run = self._runs.pop(instance_id, None)
        if run is None:
            return
        for key in [k for k in self._executions if k[0] == instance_id]:  # activities the run never finished
            execution = self._executions.pop(key)
            execution.span.set_attribute("edda.activity.interrupted", True)
            execution.span.end()
        run.span.set_attribute("edda.workflow.run.outcome", str(outcome))
        if run.replayed:
            run.span.set_attribute("edda.workflow.run.replayed_activities", run.replayed)
        run.span.end()
        otel_context.detach(run.token)  # in the task that attached it: the run's

    def _finish(self, instance_id: str, workflow_name: str, status: str) -> _Run | None:
        run = self._runs.get(instance_id)
        if run is not None:
            run.span.set_attribute("edda.workflow.status", status)
        if self._metrics is not None and run is not None and run.started_ns is not None:
            seconds = max(0, time.time_ns() - run.started_ns) / 1e9
            attributes = {"edda.workflow.name": workflow_name, "edda.workflow.status": status}
            self._metrics.workflow_duration.record(seconds, attributes)
        return run

    async def on_workflow_complete(self, instance_id: str, workflow_name: str, result: Any) -> None:
        self._finish(instance_id, workflow_name, "completed")
        if self._metrics is not None:
            self._metrics.workflow_completed.add(1, {"edda.workflow.name": workflow_name})

    async def on_workflow_failed(self, instance_id: str, workflow_name: str, error: Exception) -> None:
        run = self._finish(instance_id, workflow_name, "failed")
        if run is not None:
            run.span.record_exception(error)
            run.span.set_status(_error_status(error))
        if self._metrics is not None:
            attributes = {"edda.workflow.name": workflow_name, "error.type": _exception_type(error)}
            self._metrics.workflow_failed.add(1, attributes)

    async def on_workflow_cancelled(self, instance_id: str, workflow_name: str) -> None:
        run = self._finish(instance_id, workflow_name, "cancelled")
        if run is not None:
            run.span.add_event("cancelled", {"edda.workflow.instance_id": instance_id})
        if self._metrics is not None:
            self._metrics.workflow_cancelled.add(1, {"edda.workflow.name": workflow_name})

    # -- activities -------------------------------------------------------------------------------------------

    async def on_activity_start(
        self, instance_id: str, activity_id: str, activity_name: str, is_replaying: bool
    ) -> None:
        run = self._runs.get(instance_id)
        workflow_name = run.workflow_name if run is not None else None
        if is_replaying:
            if run is not None:
                run.replayed += 1
            if self._metrics is not None:
                self._metrics.activity_cache_hit.add(1, _activity_attributes(activity_name, workflow_name))
            return
        attributes: dict[str, Any] = {
            "edda.workflow.instance_id": instance_id,
            "edda.activity.id": activity_id,
            "edda.activity.name": activity_name,
        }
        if workflow_name is not None:
            attributes["edda.workflow.name"] = workflow_name
        parent = trace.set_span_in_context(run.span) if run is not None else None
        span = self._tracer.start_span(f"activity:{activity_name}", context=parent, attributes=attributes)
        token = otel_context.attach(trace.set_span_in_context(span))
        self._executions[(instance_id, activity_id)] = _Execution(span, token, time.perf_counter(), workflow_name)

    async def on_activity_retry(
        self, instance_id: str, activity_id: str, activity_name: str, error: Exception, attempt: int, delay: float
    ) -> None:
        execution = self._executions.get((instance_id, activity_id))
        if execution is not None:
            execution.span.add_event(
                "retry",
                {
                    "edda.activity.attempt": attempt,
                    "edda.activity.retry_delay": float(delay),
                    "exception.type": _exception_type(error),
                    "exception.message": str(error),
                },
            )

    def _end_execution(self, instance_id: str, activity_id: str, activity_name: str, status: str) -> Span | None:
        execution = self._executions.pop((instance_id, activity_id), None)
        if execution is None:
            return None
        if self._metrics is not None:
            attributes = _activity_attributes(activity_name, execution.workflow_name, status)
            self._metrics.activity_executed.add(1, attributes)
            self._metrics.activity_duration.record(time.perf_counter() - execution.started, attributes)
        otel_context.detach(execution.token)  # in the task that attached it: the activity's
        return execution.span

    async def on_activity_complete(
        self, instance_id: str, activity_id: str, activity_name: str, result: Any, cache_hit: bool
    ) -> None:
        if cache_hit:
            return  # counted when its replay started
        span = self._end_execution(instance_id, activity_id, activity_name, "completed")
        if span is not None:
            span.end()

    async def on_activity_failed(
        self, instance_id: str, activity_id: str, activity_name: str, error: Exception
    ) -> None:
        span = self._end_execution(instance_id, activity_id, activity_name, "failed")
        if span is not None:
            span.record_exception(error)
            span.set_status(_error_status(error))
            span.end()

    # -- events -----------------------------------------------------------------------------------------------

    def event_trace_context(self, instance_id: str | None) -> dict[str, str] | None:
        carrier = carrier_of()  # the current activity's span, the run's span in workflow code, or the caller's
        if not carrier and instance_id is not None and instance_id in self._runs:
            carrier = carrier_of(trace.set_span_in_context(self._runs[instance_id].span))
        return carrier or None

    async def on_event_sent(self, event_type: str, event_source: str, event_data: Any) -> None:
        trace.get_current_span().add_event(
            "event_sent", {"edda.event.type": event_type, "edda.event.source": event_source}
        )

    async def on_outbox_delivery(self, event: Any, outcome: str, error: str | None) -> None:
        if self._metrics is not None:  # a failed event holds back its instance's later ones: worth an alert
            attributes = {"edda.outbox.outcome": outcome, "edda.event.type": event.event_type}
            self._metrics.outbox_deliveries.add(1, attributes)

    async def on_cloudevent_dispatch(self, event: Any) -> None:
        received = context_from(event_carrier(event))
        if received is not None:
            # This task runs one handler, or starts one workflow, for this event, then ends: the event's span is
            # the parent of what it does (the workflow's start span among them).
            otel_context.attach(received)

    async def on_cloudevent_received(self, instance_id: str, event: Any) -> None:
        run = self._runs.get(instance_id)
        if run is None:
            return
        attributes: Attributes = {
            "edda.event.type": str(getattr(event, "type", "")),
            "edda.event.id": str(getattr(event, "id", "")),
            "edda.event.source": str(getattr(event, "source", "")),
        }
        sender = span_context_from(event_carrier(event))
        if sender is not None:
            run.span.add_link(sender, attributes)
        run.span.add_event("event_received", attributes)


def _activity_attributes(activity_name: str, workflow_name: str | None, status: str | None = None) -> dict[str, str]:
    attributes = {"edda.activity.name": activity_name}
    if workflow_name is not None:
        attributes["edda.workflow.name"] = workflow_name
    if status is not None:
        attributes["edda.activity.status"] = status
    return attributes
