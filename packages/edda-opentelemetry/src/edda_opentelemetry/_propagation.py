"""W3C Trace Context in the places Edda carries it: plain dicts (``traceparent``, ``tracestate``), the extension
attributes of CloudEvents (the CloudEvents distributed-tracing extension), and 0.16.2's ``_trace_context`` key in
event data.

The W3C propagator is used explicitly, whatever global propagator the application configured: the CloudEvents
extension is defined as W3C Trace Context.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

__all__ = [
    "LEGACY_KEY",
    "carrier_of",
    "context_from",
    "event_carrier",
    "extract_trace_context",
    "inject_trace_context",
    "span_context_from",
]

LEGACY_KEY = "_trace_context"  # where 0.16.2 put the trace context: inside the event data
_W3C = TraceContextTextMapPropagator()
_FIELDS = ("traceparent", "tracestate")


def carrier_of(context: Context | None = None) -> dict[str, str]:
    """The W3C fields of the span current in ``context`` (default: the current context); empty without one."""
    carrier: dict[str, str] = {}
    _W3C.inject(carrier, context=context)
    return carrier


def context_from(carrier: Mapping[str, Any] | None) -> Context | None:
    """A context whose current span is the (remote) span ``carrier`` names, or ``None`` if it names none."""
    if not carrier or not isinstance(carrier.get("traceparent"), str):
        return None
    fields = {k: str(carrier[k]) for k in _FIELDS if isinstance(carrier.get(k), str)}
    context = _W3C.extract(fields)
    return context if trace.get_current_span(context).get_span_context().is_valid else None


def span_context_from(carrier: Mapping[str, Any] | None) -> trace.SpanContext | None:
    """The remote span context ``carrier`` names, or ``None``."""
    context = context_from(carrier)
    return None if context is None else trace.get_current_span(context).get_span_context()


def event_carrier(event: Any) -> dict[str, str] | None:
    """The trace context an event carries: its ``traceparent``/``tracestate`` extension attributes, else 0.16.2's
    ``_trace_context`` in its data.

    ``event`` is an ``edda.ReceivedEvent`` (``.extensions``, ``.data``), the read-only CloudEvent ``on_event``
    handlers get (a mapping of attributes with ``.data``), a CloudEvent of the ``cloudevents`` SDK
    (``get_extension``, ``get_data``), or the event data itself (a dict).
    """
    attributes: Any = None
    data: Any = event
    if isinstance(getattr(event, "extensions", None), Mapping):
        attributes, data = event.extensions, getattr(event, "data", None)
    elif callable(getattr(event, "get_extension", None)):
        attributes = {name: event.get_extension(name) for name in _FIELDS}
        data = event.get_data() if callable(getattr(event, "get_data", None)) else getattr(event, "data", None)
    if isinstance(attributes, Mapping) and isinstance(attributes.get("traceparent"), str):
        return {k: str(attributes[k]) for k in _FIELDS if isinstance(attributes.get(k), str)}
    legacy = data.get(LEGACY_KEY) if isinstance(data, Mapping) else None
    if isinstance(legacy, Mapping) and isinstance(legacy.get("traceparent"), str):
        return {k: str(legacy[k]) for k in _FIELDS if isinstance(legacy.get(k), str)}
    return None


def inject_trace_context(hooks: Any, instance_id: str | None, event_data: Mapping[str, Any]) -> dict[str, Any]:
    """0.16.2's helper: a copy of ``event_data`` with the current trace context under ``_trace_context``.

    Edda now carries the trace context in the CloudEvents ``traceparent``/``tracestate`` extension attributes by
    itself (``send_event``, ``send_event_transactional``); this remains for code that sends the context inside the
    data, and for receivers still on 0.16.2.

    Args:
        hooks: the ``OpenTelemetryHooks`` (any object with an ``event_trace_context(instance_id)`` method), or
            ``None`` for the current OpenTelemetry context.
        instance_id: the sending instance, when sending from a workflow.
        event_data: the event's data (a dict).

    Raises:
        TypeError: ``event_data`` is not a mapping.
    """
    if not isinstance(event_data, Mapping):
        raise TypeError(
            f"inject_trace_context() needs the event data as a dict, got {type(event_data).__name__}; "
            "for bytes data, let send_event() carry the trace context in its extension attributes instead"
        )
    method = getattr(hooks, "event_trace_context", None)
    carrier = method(instance_id) if callable(method) else None
    if not isinstance(carrier, dict) or not carrier:
        carrier = carrier_of()
    result = dict(event_data)
    if carrier:
        result[LEGACY_KEY] = dict(carrier)  # pyright: ignore[reportUnknownArgumentType]
    return result


def extract_trace_context(event_data: Any) -> Context | None:
    """0.16.2's helper: the OpenTelemetry context an event carries, to start spans under (``tracer.start_span(...,
    context=...)``), or ``None``.

    Reads the ``traceparent``/``tracestate`` extension attributes of an ``edda.ReceivedEvent`` or CloudEvent, else
    0.16.2's ``_trace_context`` in the event data (``event_data`` may be that data itself).
    """
    return context_from(event_carrier(event_data))
