"""Which TracerProvider and MeterProvider the hooks record to.

In this order: the one passed to ``OpenTelemetryHooks``; else the application's global one, if it set one; else,
with ``otlp_endpoint``, one made here that exports over OTLP/gRPC (resource ``service.name`` = ``service_name``);
else OpenTelemetry's global proxy, which records nothing until the application sets a provider and then records to
it (no console exporter: printing every span of a production service to stdout is rarely wanted, and one line of
setup adds it for those who want it). The hooks never change OpenTelemetry's global state.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider as SdkMeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

__all__ = ["OTLP_PIP", "meter_provider_for", "tracer_provider_for"]

logger = logging.getLogger("edda.opentelemetry")

OTLP_PIP = 'pip install "edda-opentelemetry[otlp]"'
_OTLP_PACKAGE = "opentelemetry.exporter.otlp.proto.grpc"


def _otlp_exporter(module: str, name: str, endpoint: str) -> Any:
    """An exporter class of the OTLP/gRPC package (an optional extra), instantiated for ``endpoint``."""
    try:
        exporter_class = getattr(importlib.import_module(f"{_OTLP_PACKAGE}.{module}"), name)
    except ImportError as exc:
        raise ImportError(
            f"OpenTelemetryHooks(otlp_endpoint=...) exports over OTLP/gRPC, which needs the "
            f"opentelemetry-exporter-otlp-proto-grpc package ({exc}). Install it with: {OTLP_PIP} "
            f"(or configure a TracerProvider yourself and leave otlp_endpoint out)."
        ) from exc
    return exporter_class(endpoint=endpoint)


def _check_endpoint(otlp_endpoint: Any) -> None:
    if otlp_endpoint is not None and (not isinstance(otlp_endpoint, str) or not otlp_endpoint):
        raise ValueError(
            f"otlp_endpoint must be the collector's OTLP/gRPC address as a string (e.g. 'http://localhost:4317') "
            f"or None, got {otlp_endpoint!r}"
        )


def tracer_provider_for(
    service_name: str, otlp_endpoint: str | None, given: trace.TracerProvider | None
) -> tuple[trace.TracerProvider, SdkTracerProvider | None]:
    """The provider to trace with, and the same object when it was made here (the hooks flush and shut it down)."""
    _check_endpoint(otlp_endpoint)
    if given is not None:
        return given, None
    current = trace.get_tracer_provider()
    if not isinstance(current, trace.ProxyTracerProvider):
        if otlp_endpoint is not None:
            logger.warning(
                "OpenTelemetryHooks: the application already set a TracerProvider; spans go to it, and "
                "otlp_endpoint is not used for them."
            )
        return current, None
    if otlp_endpoint is None:
        return current, None
    exporter = _otlp_exporter("trace_exporter", "OTLPSpanExporter", otlp_endpoint)
    provider = SdkTracerProvider(resource=Resource.create({SERVICE_NAME: service_name}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider, provider


def meter_provider_for(
    service_name: str, otlp_endpoint: str | None, given: metrics.MeterProvider | None
) -> tuple[metrics.MeterProvider, SdkMeterProvider | None]:
    """The provider to record metrics with, and the same object when it was made here."""
    _check_endpoint(otlp_endpoint)
    if given is not None:
        return given, None
    current = metrics.get_meter_provider()
    is_proxy = "Proxy" in type(current).__name__  # the API's placeholder until the application sets a provider
    if not is_proxy:
        if otlp_endpoint is not None:
            logger.warning(
                "OpenTelemetryHooks: the application already set a MeterProvider; metrics go to it, and "
                "otlp_endpoint is not used for them."
            )
        return current, None
    if otlp_endpoint is None:
        return current, None
    exporter = _otlp_exporter("metric_exporter", "OTLPMetricExporter", otlp_endpoint)
    provider = SdkMeterProvider(
        resource=Resource.create({SERVICE_NAME: service_name}),
        metric_readers=[PeriodicExportingMetricReader(exporter)],
    )
    return provider, provider
