"""Where the time of W3 over HTTP goes: one event POSTed to the app in the same process, to the workflow's resume.

    uv run python -m benchmarks.profiles.w3_breakdown [--db sqlite|postgres] [--trips 300]

The same round trip as W3 ``HTTP, same process`` (uvicorn on 127.0.0.1, a structured CloudEvent with
``eddainstanceid`` on a keep-alive connection), with timestamps taken by thin wrappers around the storage methods
the round trip calls on this one app (``publish``, ``claim_instance``, ``get_history``, ``receive_or_wait``, the
final ``commit_step``) and around the ASGI app itself. Prints the median of each segment over the trips. The
wrappers cost a few microseconds each; the workflow's own timestamp closes the measurement as in W3.
PostgreSQL databases are made and dropped as the runner does (``EDDA_BENCH_PG_URL``); URLs are never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

from benchmarks.databases import PgAdmin, fresh_database
from benchmarks.httpserve import AsgiServer, HttpClient
from edda import EddaApp, WorkflowContext, wait_event, workflow

EVENT = "breakdown.go"
_STAMPS: dict[str, float] = {}


@workflow
async def breakdown_waiter(ctx: WorkflowContext, k: int) -> float:
    await wait_event(ctx, EVENT)
    return time.monotonic()


def _timed(name: str, call: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        _STAMPS.setdefault(f"{name} start", time.monotonic())
        try:
            return await call(*args, **kwargs)
        finally:
            _STAMPS[f"{name} end"] = time.monotonic()

    return wrapper


def _instrument(app: EddaApp) -> Callable[..., Awaitable[None]]:
    storage: Any = app.storage
    for name in ("publish", "claim_instance", "get_history", "receive_or_wait", "commit_step"):
        setattr(storage, name, _timed(name, getattr(storage, name)))

    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        _STAMPS.setdefault("asgi start", time.monotonic())

        async def sending(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                _STAMPS["response start"] = time.monotonic()
            await send(message)

        await app(scope, receive, sending)

    return asgi


SEGMENTS = (
    ("client write -> ASGI app called", "send", "asgi start"),
    ("ASGI app -> publish begins (parse, checks)", "asgi start", "publish start"),
    ("publish (message, wake-up: one transaction)", "publish start", "publish end"),
    ("publish end -> claim begins", "publish end", "claim_instance start"),
    ("claim the instance", "claim_instance start", "claim_instance end"),
    ("claim end -> history read begins", "claim_instance end", "get_history start"),
    ("read the history", "get_history start", "get_history end"),
    ("history -> receive begins (replay to the wait)", "get_history end", "receive_or_wait start"),
    ("receive (take the message, record it: one transaction)", "receive_or_wait start", "receive_or_wait end"),
    ("receive end -> workflow code resumes", "receive_or_wait end", "resumed"),
    ("total: client write -> workflow resumes", "send", "resumed"),
    ("the HTTP response reaches the client", "send", "response"),
)


async def _trips(app: EddaApp, trips: int) -> dict[str, list[float]]:
    server = await AsgiServer.start(_instrument(app))
    client = HttpClient(server.port)
    spans: dict[str, list[float]] = {label: [] for label, _, _ in SEGMENTS}
    try:
        for k in range(trips):
            iid = await breakdown_waiter.start(k=k)
            while str(getattr((await app.get_instance(iid)), "status", "")) != "waiting_for_event":
                await asyncio.sleep(0.002)
            await asyncio.sleep(0.01)  # let the suspension's own writes settle
            _STAMPS.clear()
            event = {"specversion": "1.0", "type": EVENT, "source": "s", "id": f"e{k}", "eddainstanceid": iid}
            _STAMPS["send"] = time.monotonic()
            await client.post_cloudevent("/", {**event, "data": {"k": k}})
            _STAMPS["response"] = time.monotonic()
            _STAMPS["resumed"] = float(await app.wait_for_result(iid, timeout=30))
            for label, start, end in SEGMENTS:
                if start in _STAMPS and end in _STAMPS:
                    spans[label].append((_STAMPS[end] - _STAMPS[start]) * 1e3)
    finally:
        await client.close()
        await server.stop()
    return spans


async def main(db: str, trips: int) -> None:
    async with AsyncExitStack() as stack:
        pg = await PgAdmin.connect() if db == "postgres" else None
        if pg is not None:
            stack.push_async_callback(pg.close)
        database = await stack.enter_async_context(fresh_database(db, pg, None))
        async with EddaApp(service_name="breakdown", db_url=database.url) as app:
            spans = await _trips(app, trips)
    print(f"{db}, {trips} round trips, medians (ms):")
    for label, values in spans.items():
        if values:
            print(f"  {statistics.median(values):7.2f}  {label}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="postgres")
    parser.add_argument("--trips", type=int, default=300)
    options = parser.parse_args()
    asyncio.run(main(options.db, options.trips))
