"""Burst: thousands of events POSTed concurrently, each to its own waiting workflow; overload answers are retried."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from edda import EddaApp, WorkflowContext, wait_event, workflow
from edda_asgi import create_asgi_app

N = int(os.environ.get("EDDA_BURST_N", "5000"))
CLIENT_CONCURRENCY = 200
CLIENTS = 10  # httpx's pool costs O(connections) per request, so the concurrency is spread over several clients


@workflow
async def burst_waiter(ctx: WorkflowContext, n: int) -> int:
    event = await wait_event(ctx, "burst.go")
    return event.data["n"] + n


async def burst(kit: Any, edda_app: EddaApp, n: int, max_concurrency: int) -> dict[str, float]:
    """Start ``n`` waiting workflows, POST one targeted event to each, and check every one completes."""
    t0 = time.monotonic()
    overloaded = dropped = 0
    asgi = create_asgi_app(edda_app, max_concurrency=max_concurrency)
    async with kit.serve(asgi, timeout_keep_alive=120) as url:
        ids = list(await asyncio.gather(*(burst_waiter.start(n=i) for i in range(n))))
        for iid in ids:
            await kit.wait_status(edda_app, iid, timeout=60)
        t1 = time.monotonic()
        per_client = CLIENT_CONCURRENCY // CLIENTS
        limits = httpx.Limits(max_connections=per_client, max_keepalive_connections=per_client)
        async with contextlib.AsyncExitStack() as stack:
            clients = [
                await stack.enter_async_context(httpx.AsyncClient(timeout=60, limits=limits)) for _ in range(CLIENTS)
            ]
            gates = [asyncio.Semaphore(per_client) for _ in range(CLIENTS)]

            async def deliver(i: int, iid: str) -> None:
                nonlocal overloaded, dropped
                message = kit.structured(kit.event("burst.go", {"n": i}, eddainstanceid=iid))
                async with gates[i % CLIENTS]:
                    for attempt in range(100):
                        try:
                            response = await kit.post(clients[i % CLIENTS], url + "/events", message)
                        except httpx.TransportError:  # a keep-alive connection closed under us: no answer, so retry
                            dropped += 1
                        else:
                            if response.status_code not in (429, 503):
                                assert response.status_code == 202, response.text
                                return
                            assert response.json()["retryable"] is True
                            overloaded += 1
                        await asyncio.sleep(min(1.0, 0.02 * 2**attempt) * random.uniform(0.5, 1.5))
                    pytest.fail("still overloaded after 100 tries")

            await asyncio.gather(*(deliver(i, iid) for i, iid in enumerate(ids)))
        t2 = time.monotonic()
        results = [await edda_app.wait_for_result(iid, timeout=60) for iid in ids]
        t3 = time.monotonic()
    assert results == [2 * i for i in range(n)]
    timings = {"start": t1 - t0, "post": t2 - t1, "finish": t3 - t2, "overloaded": overloaded, "dropped": dropped}
    print(f"burst of {n}: {timings}")
    return timings


async def test_5000_concurrent_events_memory(kit: Any, edda_app: EddaApp) -> None:
    await burst(kit, edda_app, N, max_concurrency=64)


async def test_concurrent_events_sqlite(kit: Any, tmp_path: Path) -> None:
    problem = kit.sqlite_problem()
    if problem:
        pytest.skip(problem)
    app = EddaApp(service_name="burst", db_url=f"sqlite:///{tmp_path / 'burst.db'}", recovery_interval=0.2)
    # An in-flight limit below the client concurrency, so that clients really meet 503s and retry them.
    await burst(kit, app, int(os.environ.get("EDDA_BURST_SQLITE_N", "2000")), max_concurrency=32)
