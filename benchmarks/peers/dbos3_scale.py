"""W7-W10 and the user-view variants of W3/W4 through DBOS Transact 3.x (see :mod:`benchmarks.scalesys` for the
workflows every system defines; W3-W6's are in :mod:`benchmarks.peers.dbos3_waits`).

* ``longrun``: ``n`` calls of one ``@DBOS.step()``; DBOS has no ``recur``;
* events carrying data: ``await DBOS.send_async(id, data, topic)``, received by ``DBOS.recv_async``;
* the user's result call: ``await handle.get_result()`` (``DBOS.retrieve_workflow_async(id)`` for a workflow this
  process did not start, e.g. one it recovered at ``launch()``);
* counts (W8): parked = ``recv`` waiters registered (see ``dbos3_waits``) + nappers started; completed = workflow
  tasks of this process that finished;
* HTTP: DBOS has no CloudEvents endpoint, so a minimal ASGI app (served by uvicorn, as Edda's is) reads the
  structured CloudEvent and calls ``DBOS.send_async(event["eddainstanceid"], event["data"], event["type"])``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from typing import Any

from dbos import DBOS, SendMessage

from benchmarks.httpserve import AsgiServer
from benchmarks.peers.dbos3_waits import DbosEvents, _waiting_ids
from benchmarks.scalesys import NAP_SECONDS, long_step_body, make_payload, payload_len, record_execution
from benchmarks.spec import EVENT_TYPE


@DBOS.step()
async def scale_long_step(x: int, n: int) -> int:
    return await long_step_body(x, n, str(DBOS.workflow_id))


@DBOS.workflow()
async def scale_longrun(k: int, n: int) -> dict[str, Any]:
    x = 0
    while x < n:
        x = await scale_long_step(x, n)
    return {"k": k, "n": n, "last": x, "t": time.monotonic()}


@DBOS.step()
async def scale_add_one(x: int) -> int:
    record_execution(str(DBOS.workflow_id))
    return x + 1


@DBOS.step()
async def scale_double(x: int) -> int:
    record_execution(str(DBOS.workflow_id))
    return x * 2


@DBOS.step()
async def scale_minus_one(x: int) -> int:
    record_execution(str(DBOS.workflow_id))
    return x - 1


@DBOS.workflow()
async def scale_tripler(k: int) -> int:
    return await scale_minus_one(await scale_double(await scale_add_one(k)))


@DBOS.step()
async def scale_produce(size: int, raw: bool) -> Any:
    return make_payload(size, raw)


@DBOS.workflow()
async def scale_producer(k: int, size: int, raw: bool) -> dict[str, Any]:
    return {"k": k, "len": len(await scale_produce(size, raw))}


@DBOS.workflow()
async def scale_inbox(k: int) -> dict[str, Any]:
    message = await DBOS.recv_async(EVENT_TYPE, timeout_seconds=3600.0)
    if message is None:
        raise TimeoutError(f"recv on {EVENT_TYPE!r} timed out")
    return {"k": k, "len": payload_len(message), "t": time.monotonic()}


@DBOS.workflow()
async def scale_napper(k: int) -> dict[str, Any]:
    await DBOS.sleep_async(NAP_SECONDS)
    return {"k": k}


_SCALE = {
    "longrun": scale_longrun,
    "tripler": scale_tripler,
    "producer": scale_producer,
    "inbox": scale_inbox,
    "napper": scale_napper,
}


class DbosScale(DbosEvents):
    def __init__(self) -> None:
        super().__init__()
        self._waiters: list[str] = []
        self._nappers = 0
        self._completed = 0
        self._http: AsgiServer | None = None

    def _track(self, handle: Any) -> str:
        wid = str(handle.get_workflow_id())
        self._handles[wid] = handle
        task = getattr(handle, "task", None)
        if isinstance(task, asyncio.Future):
            task.add_done_callback(self._finished)
        return wid

    def _finished(self, task: asyncio.Future[Any]) -> None:
        if not task.cancelled() and task.exception() is None:
            self._completed += 1

    async def start(self, kind: str, k: int) -> str:
        wid = await super().start(kind, k)
        self._track(self._handles[wid])
        if kind == "waiter":
            self._waiters.append(wid)
        return wid

    async def launch(self, kind: str, args: dict[str, Any]) -> str:
        wid = self._track(await DBOS.start_workflow_async(_SCALE[kind], **args))
        if kind == "napper":
            self._nappers += 1
        return wid

    async def results(self, wids: Sequence[str], wait_s: float) -> dict[str, Any]:
        for wid in wids:
            if wid not in self._handles:  # recovered at launch(), not started here
                self._handles[wid] = await DBOS.retrieve_workflow_async(wid)
        return await super().results(wids, wait_s)

    async def broadcast(self, wids: Sequence[str]) -> None:
        targets = list(wids) or self._waiters
        await DBOS.send_bulk_async([SendMessage(wid, {}, EVENT_TYPE) for wid in targets])

    async def deliver_data(self, wid: str, data: Any) -> None:
        await DBOS.send_async(wid, data, EVENT_TYPE)

    async def user_result(self, wid: str, wait_s: float) -> Any:
        handle = self._handles.get(wid) or await DBOS.retrieve_workflow_async(wid)
        return await asyncio.wait_for(handle.get_result(), timeout=wait_s)

    def counts(self) -> tuple[int, int]:
        return len(_waiting_ids()) + self._nappers, self._completed

    async def serve_http(self) -> tuple[int, str]:
        self._http = await AsgiServer.start(_cloudevent_endpoint)
        return self._http.port, "/"

    async def stop_http(self) -> None:
        if self._http is not None:
            await self._http.stop()
            self._http = None

    async def teardown(self) -> None:
        await self.stop_http()
        await super().teardown()


async def _cloudevent_endpoint(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """POST a structured CloudEvent: its data is sent to the workflow ``eddainstanceid`` on topic ``type``."""
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    event = json.loads(body)
    await DBOS.send_async(event["eddainstanceid"], event.get("data"), event["type"])
    await send({"type": "http.response.start", "status": 202, "headers": [(b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})
