"""Seed-compatible import path: ``from edda.integrations.opentelemetry import OpenTelemetryHooks``.

The implementation lives in the ``edda-opentelemetry`` package (``edda_opentelemetry.OpenTelemetryHooks``,
``inject_trace_context``, ``extract_trace_context``); this shim forwards to it.
"""

from __future__ import annotations

try:
    from edda_opentelemetry import (  # pyright: ignore[reportMissingImports]
        OpenTelemetryHooks,
        extract_trace_context,
        inject_trace_context,
    )
except ModuleNotFoundError as exc:
    if exc.name != "edda_opentelemetry":  # installed but broken (a dependency of its own is missing): say that instead
        raise
    raise ImportError(
        "OpenTelemetryHooks lives in the edda-opentelemetry package (OpenTelemetry tracing and metrics for Edda), "
        "which is not installed. Install it with: pip install edda-opentelemetry"
    ) from exc

__all__ = ["OpenTelemetryHooks", "extract_trace_context", "inject_trace_context"]
