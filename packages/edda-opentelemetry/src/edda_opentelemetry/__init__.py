"""OpenTelemetry tracing and metrics for Edda workflows.

    from edda import EddaApp
    from edda_opentelemetry import OpenTelemetryHooks

    app = EddaApp(db_url="sqlite:///orders.db", hooks=OpenTelemetryHooks(service_name="orders", enable_metrics=True))

Each run of a workflow is a ``workflow:{name}`` span, parent of its ``activity:{name}`` spans; all runs of an instance
share one trace, across waits, crashes and processes. CloudEvents that Edda sends carry the W3C trace context as the
``traceparent``/``tracestate`` extension attributes, and those it receives continue it. Also importable as
``edda.integrations.opentelemetry`` (the 0.16 path).
"""

from __future__ import annotations

from edda_opentelemetry._hooks import OpenTelemetryHooks
from edda_opentelemetry._propagation import extract_trace_context, inject_trace_context

__version__ = "1.0.0"

__all__ = ["OpenTelemetryHooks", "extract_trace_context", "inject_trace_context"]
