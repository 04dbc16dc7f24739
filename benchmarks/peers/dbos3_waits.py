"""W3-W6 through DBOS Transact 3.x (see :mod:`benchmarks.eventsys` for the workflows every system defines).

API as read from the installed 3.x source:

* waits: ``await DBOS.recv_async(topic, timeout_seconds)`` (default timeout 60 s, so the waiter asks for an hour
  and fails if it ever gets ``None``), ``await DBOS.sleep_async(seconds)``;
* delivery: ``await DBOS.send_async(workflow_id, message, topic)``. DBOS has no broadcast: W6 ``broadcast`` uses
  ``await DBOS.send_bulk_async([SendMessage(id, message, topic), ...])``, every message in one transaction;
* parked: a waiting ``recv`` registers ``(workflow id, topic)`` in the system database object's in-memory
  ``notifications_map`` before it waits; there is no public "is it waiting" call, so that map is read (only to
  decide when to send, never timed);
* results: the handle of ``start_workflow_async`` wraps the local asyncio task running the workflow; waiting uses
  that task when present (``get_result()`` otherwise); ``status`` reads ``DBOS.get_workflow_status_async``.
  PostgreSQL wakes a waiting ``recv`` through LISTEN/NOTIFY; on SQLite a listener thread polls every waiter once
  per ``notification_listener_polling_interval_sec`` (default 1 s).
* recovery: ``DBOS.launch()`` recovers the pending workflows of its executor id (``local`` unless configured) and
  application version; a running process never picks up another process's workflows (that takes DBOS Conductor
  or Cloud), so W5 ``standby worker`` can only time out.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from importlib import metadata
from typing import Any

from dbos import DBOS, DBOSConfig, SendMessage

from benchmarks.eventsys import FINISHED_FAILED, FINISHED_OK, NOT_FINISHED, long_step_body
from benchmarks.spec import EVENT_TYPE, TIMER_SECONDS, Job

RECV_TIMEOUT_S = 3600.0
_FAILED = {"ERROR", "CANCELLED", "MAX_RECOVERY_ATTEMPTS_EXCEEDED"}


@DBOS.step()
async def bench_stamp() -> float:
    return time.monotonic()


@DBOS.step()
async def bench_prepare(k: int) -> int:
    return k


@DBOS.step()
async def bench_long_step(k: int) -> int:
    return await long_step_body(k, str(DBOS.workflow_id))


@DBOS.workflow()
async def bench_waiter(k: int) -> dict[str, Any]:
    message = await DBOS.recv_async(EVENT_TYPE, timeout_seconds=RECV_TIMEOUT_S)
    if message is None:
        raise TimeoutError(f"recv on {EVENT_TYPE!r} timed out")
    return {"k": k, "t": time.monotonic()}


@DBOS.workflow()
async def bench_sleeper(k: int) -> dict[str, Any]:
    t0 = await bench_stamp()
    await DBOS.sleep_async(TIMER_SECONDS)
    return {"k": k, "t0": t0, "t": time.monotonic()}


@DBOS.workflow()
async def bench_crasher(k: int) -> dict[str, Any]:
    await bench_long_step(await bench_prepare(k))
    return {"k": k, "t": time.monotonic()}


_WORKFLOWS = {"waiter": bench_waiter, "sleeper": bench_sleeper, "crasher": bench_crasher}


def _waiting_ids() -> set[str]:
    """Workflow ids with a registered ``recv`` waiter (see the module docstring)."""
    from dbos._dbos import _get_dbos_instance

    notifications = _get_dbos_instance()._sys_db.notifications_map
    return {components[0] for _, components, _ in notifications.snapshot()}


class DbosEvents:
    name = "dbos"

    def __init__(self) -> None:
        self.version = metadata.version("dbos")
        self._launched = False
        self._handles: dict[str, Any] = {}

    async def setup(self, job: Job, role: str) -> None:
        config: DBOSConfig = {"name": "bench", "system_database_url": job.db_url, "log_level": "WARNING"}
        DBOS(config=config)
        DBOS.launch()
        self._launched = True

    async def start(self, kind: str, k: int) -> str:
        handle = await DBOS.start_workflow_async(_WORKFLOWS[kind], k)
        wid = str(handle.get_workflow_id())
        self._handles[wid] = handle
        return wid

    async def is_parked(self, wid: str) -> bool:
        return wid in _waiting_ids()

    async def count_parked(self, wids: Sequence[str]) -> int:
        return len(_waiting_ids().intersection(wids))

    async def deliver(self, wid: str, k: int) -> None:
        await DBOS.send_async(wid, {"k": k}, EVENT_TYPE)

    async def broadcast(self, wids: Sequence[str]) -> None:
        await DBOS.send_bulk_async([SendMessage(wid, {}, EVENT_TYPE) for wid in wids])

    async def results(self, wids: Sequence[str], wait_s: float) -> dict[str, Any]:
        futures: dict[asyncio.Future[Any], str] = {}
        for wid in wids:
            handle = self._handles[wid]
            task = getattr(handle, "task", None)
            future = task if isinstance(task, asyncio.Future) else asyncio.ensure_future(handle.get_result())
            futures[future] = wid
        if futures:
            await asyncio.wait(list(futures), timeout=max(0.0, wait_s))
        found: dict[str, Any] = {}
        for future, wid in futures.items():
            if not future.done():
                if future is not getattr(self._handles[wid], "task", None):
                    future.cancel()  # our own get_result() waiter, not the workflow
                continue
            if future.cancelled():
                found[wid] = asyncio.CancelledError(f"workflow {wid} was cancelled")
            else:
                found[wid] = future.exception() or future.result()
            self._handles.pop(wid, None)
        return found

    async def status(self, wid: str) -> str:
        status = await DBOS.get_workflow_status_async(wid)
        if status is None:
            return NOT_FINISHED
        if status.status == "SUCCESS":
            return FINISHED_OK
        return FINISHED_FAILED if status.status in _FAILED else NOT_FINISHED

    async def teardown(self) -> None:
        if self._launched:
            DBOS.destroy()
