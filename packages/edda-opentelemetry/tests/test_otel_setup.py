"""Which providers the hooks record to, bad arguments, the OTLP extra, the 0.16 import path and helpers.

What touches OpenTelemetry's global providers (which can be set once per process) runs in a fresh interpreter.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

import edda_opentelemetry
from edda_opentelemetry import OpenTelemetryHooks, extract_trace_context, inject_trace_context

RUN_ONE_WORKFLOW = """
import asyncio, json, logging, sys
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from edda import EddaApp, WorkflowContext, activity, workflow
from edda.storage.memory import InMemoryStorage
from edda_opentelemetry import OpenTelemetryHooks

logging.basicConfig(level=logging.WARNING, stream=sys.stderr)

@activity
async def step(ctx: WorkflowContext) -> int:
    return 1

@workflow
async def flow(ctx: WorkflowContext) -> int:
    return await step(ctx)

def global_provider():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return exporter

async def main():
    exporter = None
    {setup}
    async with EddaApp(storage=InMemoryStorage(), hooks=hooks) as app:
        await app.wait_for_result(await flow.start(), timeout=10)
    names = sorted(s.name for s in exporter.get_finished_spans()) if exporter is not None else None
    print(json.dumps(names))

asyncio.run(main())
"""


def _run(setup: str) -> tuple[Any, str]:
    code = textwrap.dedent(RUN_ONE_WORKFLOW).replace("{setup}", textwrap.dedent(setup).strip().replace("\n", "\n    "))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


EXPECTED = ["activity:step", "start_workflow:flow", "workflow:flow"]


def test_the_global_tracer_provider_the_application_set_is_used() -> None:
    names, _ = _run("exporter = global_provider()\nhooks = OpenTelemetryHooks(service_name='svc')")
    assert names == EXPECTED


def test_hooks_made_before_the_application_sets_its_provider_record_to_it_once_set() -> None:
    names, _ = _run("hooks = OpenTelemetryHooks()\nexporter = global_provider()")
    assert names == EXPECTED


def test_without_any_provider_the_hooks_record_nothing_and_the_workflow_runs() -> None:
    names, stderr = _run("hooks = OpenTelemetryHooks(enable_metrics=True)")
    assert names is None and "Traceback" not in stderr


def test_with_an_application_provider_otlp_endpoint_is_not_used_and_that_is_said() -> None:
    names, stderr = _run(
        "exporter = global_provider()\nhooks = OpenTelemetryHooks(otlp_endpoint='http://127.0.0.1:4317')"
    )
    assert names == EXPECTED
    assert "already set a TracerProvider" in stderr and "otlp_endpoint is not used" in stderr


def test_otlp_endpoint_without_the_exporter_names_the_pip_line() -> None:
    try:
        import opentelemetry.exporter.otlp.proto.grpc  # noqa: F401  # pyright: ignore[reportMissingImports]
    except ImportError:
        pass
    else:
        pytest.skip("opentelemetry-exporter-otlp-proto-grpc is installed here")
    with pytest.raises(ImportError, match=r'pip install "edda-opentelemetry\[otlp\]"'):
        OpenTelemetryHooks(otlp_endpoint="http://127.0.0.1:4317")


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"service_name": ""}, ValueError, "service_name must be a non-empty string"),
        ({"enable_metrics": "yes"}, TypeError, "enable_metrics must be True or False"),
        ({"otlp_endpoint": 4317}, ValueError, "otlp_endpoint must be the collector's OTLP/gRPC address"),
        ({"tracer_provider": object()}, TypeError, "tracer_provider must be an OpenTelemetry TracerProvider"),
        ({"meter_provider": "meters", "enable_metrics": True}, TypeError, "meter_provider must be an OpenTelemetry"),
    ],
)
def test_bad_arguments_say_what_is_wrong(arguments: dict[str, Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        OpenTelemetryHooks(**arguments)


def test_the_016_import_path_forwards_to_this_package() -> None:
    from edda.integrations.opentelemetry import OpenTelemetryHooks as Hooks
    from edda.integrations.opentelemetry import extract_trace_context as extract
    from edda.integrations.opentelemetry import inject_trace_context as inject

    assert (Hooks, extract, inject) == (OpenTelemetryHooks, extract_trace_context, inject_trace_context)
    assert sorted(edda_opentelemetry.__all__) == ["OpenTelemetryHooks", "extract_trace_context", "inject_trace_context"]


def test_the_016_import_path_without_this_package_names_the_pip_line() -> None:
    code = """
import sys
sys.modules["edda_opentelemetry"] = None  # as if not installed
try:
    from edda.integrations.opentelemetry import OpenTelemetryHooks
except ImportError as exc:
    print(exc)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "Install it with: pip install edda-opentelemetry" in proc.stdout


def test_inject_and_extract_round_trip_the_current_span() -> None:
    provider = TracerProvider()
    with provider.get_tracer("t").start_as_current_span("sender") as sender:
        data = inject_trace_context(None, None, {"order": 1})
    assert data["order"] == 1 and data["_trace_context"]["traceparent"].split("-")[2] == format(
        sender.get_span_context().span_id, "016x"
    )
    context = extract_trace_context(data)
    assert context is not None
    assert trace.get_current_span(context).get_span_context().span_id == sender.get_span_context().span_id
    assert extract_trace_context({"order": 1}) is None
    assert extract_trace_context({"_trace_context": {"traceparent": "garbage"}}) is None
    with pytest.raises(TypeError, match="needs the event data as a dict"):
        inject_trace_context(None, None, b"bytes")  # type: ignore[arg-type]
    provider.shutdown()
