"""Reading state for users: ``find_instances`` (validation and page tokens), waiting for an instance to finish, and
the result of a finished instance."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from edda._admission import lending
from edda._workflow import get_workflow
from edda.exceptions import WorkflowCancelledException, WorkflowFailedError, WorkflowNotFoundError
from edda.storage.protocol import InstanceBatchReader, Storage
from edda.storage.records import ALL_STATUSES, FINISHED_STATUSES, InstanceQuery, InstanceRecord, InstanceStatus

__all__ = ["ResultPoller", "decode_page_token", "encode_page_token", "find_instances", "result_of", "wait_for_result"]

logger = logging.getLogger("edda")

_FILTER_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*(\.[A-Za-z_][A-Za-z0-9_\-]*)*$")


def _check_filters(input_filters: dict[str, Any] | None) -> tuple[tuple[str, Any], ...]:
    filters: list[tuple[str, Any]] = []
    for key, value in (input_filters or {}).items():
        if not isinstance(key, str) or not _FILTER_KEY.match(key):
            raise ValueError(f"input_filters key {key!r} must be a dotted path of identifiers like 'customer.id'")
        if not isinstance(value, str | int | float | bool):
            raise ValueError(f"input_filters[{key!r}] must be a str, int, float or bool, got {type(value).__name__}")
        filters.append((key, value))
    return tuple(filters)


def _check_scalars(
    status: str | None,
    workflow_name: str | None,
    instance_id: str | None,
    started_after: datetime | None,
    started_before: datetime | None,
    limit: int,
) -> None:
    if status is not None and status not in ALL_STATUSES:
        choices = ", ".join(sorted(ALL_STATUSES))
        raise ValueError(f"status {status!r} is not a workflow status; use one of {choices}")
    for name, value in (("workflow_name", workflow_name), ("instance_id", instance_id)):
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{name} must be a string")
    for name, moment in (("started_after", started_after), ("started_before", started_before)):
        if moment is not None and (not isinstance(moment, datetime) or moment.tzinfo is None):
            raise ValueError(f"{name} must be a timezone-aware datetime (e.g. datetime.now(UTC))")
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 1000:
        raise ValueError(f"limit must be an int from 1 to 1000, got {limit!r}")


async def find_instances(
    storage: Storage,
    *,
    input_filters: dict[str, Any] | None,
    status: str | None,
    workflow_name: str | None,
    instance_id: str | None,
    started_after: datetime | None,
    started_before: datetime | None,
    limit: int,
    page_token: str | None,
) -> dict[str, Any]:
    """Validate the filters, run the query, and return ``{"instances", "next_page_token", "has_more"}``.

    Raises:
        ValueError: a filter is malformed (the message says which and why).
    """
    filters = _check_filters(input_filters)
    _check_scalars(status, workflow_name, instance_id, started_after, started_before, limit)
    page = await storage.find_instances(
        InstanceQuery(
            status=status,
            workflow_name=workflow_name,
            instance_id=instance_id,
            started_after=started_after,
            started_before=started_before,
            input_filters=filters,
            limit=limit,
            cursor=decode_page_token(page_token) if page_token else None,
        )
    )
    token = encode_page_token(page.next_cursor) if page.next_cursor else None
    return {"instances": page.instances, "next_page_token": token, "has_more": token is not None}


def encode_page_token(cursor: tuple[datetime, str]) -> str:
    raw = json.dumps({"t": cursor[0].isoformat(), "i": cursor[1]}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_page_token(token: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        moment = datetime.fromisoformat(data["t"])
        if moment.tzinfo is None or not isinstance(data["i"], str):
            raise ValueError
        return moment, data["i"]
    except Exception:
        raise ValueError(
            "page_token is not a token returned by find_instances(); pass next_page_token unchanged"
        ) from None


def result_of(record: InstanceRecord) -> Any:
    """The result of a finished instance (restored per its workflow's return annotation), or its failure raised.

    Raises:
        WorkflowFailedError: it failed.
        WorkflowCancelledException: it was cancelled.
    """
    if record.status == InstanceStatus.COMPLETED:
        wf = get_workflow(record.workflow_name)
        return wf.load_result(record.output_data) if wf is not None else record.output_data
    if record.status == InstanceStatus.CANCELLED:
        reason = (record.error or {}).get("message")  # e.g. its execution timeout
        raise WorkflowCancelledException(
            f"Workflow instance {record.instance_id!r} was cancelled" + (f": {reason}" if reason else "")
        )
    error = record.error or {}
    raise WorkflowFailedError(record.instance_id, error.get("error_type", "Error"), error.get("message", ""))


class _Watcher(Protocol):
    def watch(self, instance_id: str) -> asyncio.Future[None]: ...

    def unwatch(self, instance_id: str, fut: asyncio.Future[None]) -> None: ...


_POLL_FIRST_S, _POLL_MAX_S = 0.01, 0.5
_GONE = object()  # a poll found no such instance (deleted meanwhile)


class ResultPoller:
    """Looks, for every result this app awaits, whether the instance finished elsewhere: one read per poll for all of
    them (:class:`~edda.storage.protocol.InstanceBatchReader`), not one each.

    A run of this app's own worker that finishes an instance resolves its waits at once (``worker.watch``); polls
    find what other processes finished. They back off from 10 ms to 0.5 s, and start again at 10 ms when a new wait
    begins. Where no other process can finish an instance (a single-process storage such as SQLite, and ``worker()``,
    the app's worker, runs workflows), every finish resolves its waits at once and polls are only a safety net: every
    0.5 s from the start (in a burst of 500 awaited workflows, the reads of all 500 rows at 10, 20, 40 ms... were a
    tenth of the app's CPU).
    """

    def __init__(self, storage: Callable[[], Storage], worker: Callable[[], Any] = lambda: None) -> None:
        self._storage = storage  # the app's, once it is open
        self._worker = worker  # the app's, once it is open (a client's too: it runs no workflow)
        self._waits: dict[str, list[asyncio.Future[Any]]] = {}
        self._interval = _POLL_FIRST_S
        self._task: asyncio.Task[None] | None = None

    def watch(self, instance_id: str) -> asyncio.Future[Any]:
        """A future resolved with the instance's record once a poll finds it finished (or ``_GONE``)."""
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waits.setdefault(instance_id, []).append(fut)
        self._interval = _POLL_MAX_S if self._only_here() else _POLL_FIRST_S
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="edda-result-poller")
        return fut

    def _only_here(self) -> bool:
        capabilities = getattr(self._storage(), "capabilities", None)
        worker = self._worker()
        runs_here = worker is not None and bool(getattr(worker.settings, "run_workflows", False))
        return runs_here and bool(getattr(capabilities, "single_process_takeover", False))

    def unwatch(self, instance_id: str, fut: asyncio.Future[Any]) -> None:
        waits = self._waits.get(instance_id)
        if waits and fut in waits:
            waits.remove(fut)
            if not waits:
                del self._waits[instance_id]

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while self._waits:
            await asyncio.sleep(self._interval)
            self._interval = min(self._interval * 2, _POLL_MAX_S)
            ids = list(self._waits)
            try:
                found = await self._read(ids)
            except Exception as exc:  # the waits time out or see the local run; the next poll tries again
                logger.debug("Polling %d awaited instance(s) failed: %s", len(ids), exc)
                continue
            for iid in ids:
                record = found.get(iid, _GONE)
                if record is not _GONE and record.status not in FINISHED_STATUSES:
                    continue
                for fut in self._waits.pop(iid, ()):
                    if not fut.done():
                        fut.set_result(record)

    async def _read(self, ids: list[str]) -> dict[str, Any]:
        storage = self._storage()
        if isinstance(storage, InstanceBatchReader):
            return dict(await storage.get_instances(ids))
        records = await asyncio.gather(*(storage.get_instance(iid) for iid in ids))
        return {iid: record for iid, record in zip(ids, records, strict=True) if record is not None}


async def wait_for_result(
    storage: Storage, worker: _Watcher | None, poller: ResultPoller, instance_id: str, *, timeout: float | None
) -> Any:
    """``EddaApp.wait_for_result``: a run of ``worker`` that finishes the instance resolves the wait at once (then
    one read fetches the result); ``poller`` finds an instance that finishes elsewhere."""
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    record = await storage.get_instance(instance_id)
    while True:
        if record is None:
            raise WorkflowNotFoundError(f"No workflow instance {instance_id!r}")
        if record.status in FINISHED_STATUSES:
            return result_of(record)
        wait = None if deadline is None else deadline - loop.time()
        if wait is not None and wait <= 0:
            raise TimeoutError(
                f"Workflow instance {instance_id!r} did not finish within {timeout} s (status '{record.status}')"
            )
        local = worker.watch(instance_id) if worker is not None else None
        polled = poller.watch(instance_id)
        try:
            watched = [polled] if local is None else [polled, local]
            with lending():  # called from a run (not an activity): its admission slot must not wait with it
                done, _ = await asyncio.wait(watched, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
        finally:
            poller.unwatch(instance_id, polled)
            if local is not None and worker is not None:
                worker.unwatch(instance_id, local)
        if polled in done:
            found = polled.result()
            record = None if found is _GONE else found
        elif done:  # this worker finished it: read the result
            record = await storage.get_instance(instance_id)
