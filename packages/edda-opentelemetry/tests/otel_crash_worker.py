"""A worker process for test_otel_crash.py: runs a workflow with OpenTelemetryHooks on a SQLite file and writes each
span, the moment it ends, as one JSON line, so that a test can SIGKILL the process and compare its spans with those
of the process that resumes the workflow.

    python otel_crash_worker.py start  DB SPANS DIR PAUSE   # start the workflow under a caller span; blocks in it
    python otel_crash_worker.py resume DB SPANS DIR PAUSE   # resume it, print its result, exit

In ``start`` mode the risky activity writes ``DIR/in-risky`` and then blocks until the process is killed.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from edda import EddaApp, WorkflowContext, activity, sleep, workflow
from edda_opentelemetry import OpenTelemetryHooks


class JsonLinesExporter(SpanExporter):
    """Appends every finished span to a file, one JSON object a line, flushed at once (it survives a SIGKILL)."""

    def __init__(self, path: Path, process: str) -> None:
        self.path = path
        self.process = process

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with self.path.open("a", encoding="utf-8") as out:
            for span in spans:
                context = span.get_span_context()
                assert context is not None
                record = {
                    "process": self.process,
                    "name": span.name,
                    "trace_id": format(context.trace_id, "032x"),
                    "span_id": format(context.span_id, "016x"),
                    "parent_id": None if span.parent is None else format(span.parent.span_id, "016x"),
                    "attributes": dict(span.attributes or {}),
                }
                out.write(json.dumps(record) + "\n")
            out.flush()
        return SpanExportResult.SUCCESS


@activity
async def otel_crash_prepare(ctx: WorkflowContext, n: int) -> int:
    return n + 1


@activity
async def otel_crash_risky(ctx: WorkflowContext, n: int) -> int:
    if os.environ.get("OTEL_CRASH_MODE") == "start":
        (Path(os.environ["OTEL_CRASH_DIR"]) / "in-risky").write_text("1")
        await asyncio.sleep(3600)  # the test kills the process here
    return n * 10


@workflow
async def otel_crash_flow(ctx: WorkflowContext, n: int, pause: bool) -> int:
    if pause:  # one finished run (suspended at the timer) before the run that is killed
        n = await otel_crash_prepare(ctx, n)
        await sleep(ctx, 0.05)
    return await otel_crash_risky(ctx, n)


async def main(mode: str, db: str, spans_file: str, work_dir: str, pause: bool) -> None:
    os.environ["OTEL_CRASH_MODE"] = mode
    os.environ["OTEL_CRASH_DIR"] = work_dir
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(JsonLinesExporter(Path(spans_file), mode)))
    hooks = OpenTelemetryHooks(service_name="crash-test", tracer_provider=provider)
    app = EddaApp(service_name="crash-test", db_url=f"sqlite:///{db}", hooks=hooks)
    await app.initialize()
    if mode == "start":
        with provider.get_tracer("caller").start_as_current_span("POST /flows"):
            iid = await otel_crash_flow.start(instance_id="flow-1", n=1, pause=pause)
        print(iid, flush=True)
        await asyncio.Event().wait()  # until killed
    result = await app.wait_for_result("flow-1", timeout=60)
    await app.shutdown()
    provider.shutdown()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5] == "pause"))
