"""OpenTelemetry tracing and metrics for Edda workflows."""
