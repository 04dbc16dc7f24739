"""W7-W10 and the user-view variants of W3/W4 through edda-framework 0.16.2 (see :mod:`benchmarks.scalesys` for the
workflows every system defines; W3-W6's are in :mod:`benchmarks.peers.edda_framework_0162_waits`).

* ``longrun``: ``n`` calls of one ``@activity`` (no ``recur`` in the comparison);
* events carrying data: ``await app.handle_cloudevent(CloudEvent(attributes, data), wait=True)``;
* the user's result call: reading ``app.storage.get_instance(id)`` every 10 ms (it has no result-waiting call);
* counts (W8): parked = ``start()`` calls of waiting workflows that returned (its ``start()`` runs the workflow
  inline until it suspends); completed = workflows its ``on_workflow_complete`` hook reported;
* HTTP: its ``EddaApp`` is an ASGI app (every POST a CloudEvent), served by uvicorn as ours is;
* its ``initialize()`` installs uvloop's event-loop policy; :meth:`EddaFrameworkScale.setup` puts the default back
  (the running loop is not affected either way), so that helper processes can still be started.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from cloudevents.http import CloudEvent

from benchmarks.httpserve import AsgiServer
from benchmarks.peers.edda_framework_0162_waits import EddaFrameworkEvents
from benchmarks.scalesys import (
    NAP_SECONDS,
    CountingCompletions,
    long_step_body,
    make_payload,
    payload_len,
    record_execution,
)
from benchmarks.spec import EVENT_TYPE
from edda import WorkflowContext, activity, sleep, wait_event, workflow

_POLL_S = 0.01
_FAILED = ("failed", "cancelled")


@activity
async def scale_long_step(ctx: WorkflowContext, x: int, n: int) -> int:
    return await long_step_body(x, n, ctx.instance_id)


@workflow
async def scale_longrun(ctx: WorkflowContext, k: int, n: int) -> dict[str, Any]:
    x = 0
    while x < n:
        x = await scale_long_step(ctx, x, n)
    return {"k": k, "n": n, "last": x, "t": time.monotonic()}


@activity
async def scale_add_one(ctx: WorkflowContext, x: int) -> int:
    record_execution(ctx.instance_id)
    return x + 1


@activity
async def scale_double(ctx: WorkflowContext, x: int) -> int:
    record_execution(ctx.instance_id)
    return x * 2


@activity
async def scale_minus_one(ctx: WorkflowContext, x: int) -> int:
    record_execution(ctx.instance_id)
    return x - 1


@workflow
async def scale_tripler(ctx: WorkflowContext, k: int) -> int:
    return await scale_minus_one(ctx, await scale_double(ctx, await scale_add_one(ctx, k)))


@activity
async def scale_produce(ctx: WorkflowContext, size: int, raw: bool) -> Any:
    return make_payload(size, raw)


@workflow
async def scale_producer(ctx: WorkflowContext, k: int, size: int, raw: bool) -> dict[str, Any]:
    return {"k": k, "len": len(await scale_produce(ctx, size, raw))}


@workflow
async def scale_inbox(ctx: WorkflowContext, k: int) -> dict[str, Any]:
    event = await wait_event(ctx, EVENT_TYPE)
    return {"k": k, "len": payload_len(event.data), "t": time.monotonic()}


@workflow
async def scale_napper(ctx: WorkflowContext, k: int) -> dict[str, Any]:
    await sleep(ctx, int(NAP_SECONDS))
    return {"k": k}


_SCALE = {
    "longrun": scale_longrun,
    "tripler": scale_tripler,
    "producer": scale_producer,
    "inbox": scale_inbox,
    "napper": scale_napper,
}


class EddaFrameworkScale(EddaFrameworkEvents):
    def __init__(self) -> None:
        super().__init__()
        self.completions = CountingCompletions()  # fed by the hooks that setup() installs
        self._parked = 0
        self._http: AsgiServer | None = None

    async def setup(self, job: Any, role: str) -> None:
        await super().setup(job, role)
        # initialize() installed uvloop's event-loop policy, for later loops only (this one stays plain asyncio);
        # under it asyncio cannot start subprocesses, which W7 needs after this app is closed. Back to the default.
        asyncio.set_event_loop_policy(None)

    async def start(self, kind: str, k: int) -> str:
        wid = await super().start(kind, k)
        if kind == "waiter":
            self._parked += 1
        return wid

    async def launch(self, kind: str, args: dict[str, Any]) -> str:
        wid = str(await _SCALE[kind].start(**args))
        if kind == "napper":
            self._parked += 1
        return wid

    async def deliver_data(self, wid: str, data: Any) -> None:
        attributes = {"type": EVENT_TYPE, "source": "bench", "id": f"bench-data-{wid}", "eddainstanceid": wid}
        await self.app.handle_cloudevent(CloudEvent(attributes, data), wait=True)

    async def user_result(self, wid: str, wait_s: float) -> Any:
        deadline = time.monotonic() + wait_s
        while True:
            status, instance = await self._status(wid)
            if status == "completed":
                return instance["output_data"]["result"]  # type: ignore[index]
            if status in _FAILED:
                raise RuntimeError(f"workflow {wid} ended {status}")
            if time.monotonic() >= deadline:
                raise TimeoutError(f"workflow {wid} still {status} after {wait_s:.0f} s")
            await asyncio.sleep(_POLL_S)

    def counts(self) -> tuple[int, int]:
        return self._parked, self.completions.completed

    async def serve_http(self) -> tuple[int, str]:
        self._http = await AsgiServer.start(self.app)
        return self._http.port, "/"

    async def stop_http(self) -> None:
        if self._http is not None:
            await self._http.stop()
            self._http = None

    async def teardown(self) -> None:
        await self.stop_http()
        await super().teardown()
