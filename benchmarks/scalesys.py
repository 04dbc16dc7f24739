"""What a system adapter implements for W7-W10 and the user-view variants of W3/W4 (child side, stdlib only).

A :class:`ScaleSystem` is an :class:`~benchmarks.eventsys.EventSystem` that also starts these workflows (``args``
is a dict of the workflow's inputs, JSON-compatible):

* ``longrun(k, n, every=0, done=0)``: ``n`` sequential calls of one activity (:func:`long_step_body`); with
  ``every`` (Edda only), ``ctx.recur`` after every ``every`` steps, carrying ``done``. Returns
  ``{"k", "n", "last", "t"}``, ``t`` taken after the last step returned;
* ``tripler(k)``: W2's workflow (``add_one``, ``double``, ``minus_one``); each activity records who ran it
  (:func:`record_execution`). Returns ``(k + 1) * 2 - 1``;
* ``producer(k, size, raw)``: one activity returns a payload of ``size`` bytes (:func:`make_payload`: JSON text,
  or raw bytes when ``raw``); returns ``{"k", "len"}``;
* ``inbox(k)``: waits for an event of :data:`~benchmarks.spec.EVENT_TYPE` and returns ``{"k", "len", "t"}``, ``len``
  the size of its payload (:func:`payload_len`);
* ``napper(k)``: sleeps :data:`NAP_SECONDS` durably (W8's parked timers), returns ``{"k"}``.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import os
import time
from collections.abc import Sequence
from typing import Any, Protocol

from benchmarks.eventsys import PROBE, Completions, EventSystem
from benchmarks.probes import vm_kib

NAP_SECONDS = 3600.0
PAYLOAD_KEY = "blob"  # a JSON payload travels as {"blob": "<text>"}


class ScaleSystem(EventSystem, Protocol):
    async def launch(self, kind: str, args: dict[str, Any]) -> str:
        """Start workflow ``kind`` with ``args``; return its id."""
        ...

    async def deliver_data(self, wid: str, data: Any) -> None:
        """Send one event carrying ``data`` (a dict, or bytes) to ``wid`` only."""
        ...

    async def user_result(self, wid: str, wait_s: float) -> Any:
        """Wait for ``wid``'s result the way the system's users do (Edda: ``app.wait_for_result``)."""
        ...

    def counts(self) -> tuple[int, int]:
        """``(runs suspended, workflows completed)`` in this process so far (W8 counts without reading ids)."""
        ...

    async def serve_http(self) -> tuple[int, str]:
        """Serve CloudEvents over HTTP on 127.0.0.1 in this process (uvicorn); return ``(port, path)``."""
        ...

    async def stop_http(self) -> None: ...


class CountingCompletions(Completions):
    """:class:`~benchmarks.eventsys.Completions` that also counts the workflows that completed (not failed)."""

    def __init__(self) -> None:
        super().__init__()
        self.completed = 0

    def finished(self, wid: str, value: Any) -> None:
        if not isinstance(value, BaseException):
            self.completed += 1
        super().finished(wid, value)


class StepLog:
    """What the activities of ``longrun`` and ``tripler`` record in this process."""

    def __init__(self) -> None:
        self.marks: list[float] = []
        self.rss_last_kib: int | None = None
        self.executions: dict[str, int] = {}

    def reset(self) -> None:
        self.marks.clear()
        self.rss_last_kib = None
        self.executions.clear()


LOG = StepLog()


async def long_step_body(x: int, n: int, wid: str) -> int:
    """The activity of ``longrun``: records when it started; at the last step, the RSS, and in a W7 victim it
    reports and holds (see :class:`benchmarks.eventsys.CrashProbe`). Returns ``x + 1``."""
    LOG.marks.append(time.monotonic())
    if x == n - 1:
        LOG.rss_last_kib = rss_kib()
        if PROBE.on_enter is not None:
            PROBE.on_enter(x, wid)
            await asyncio.sleep(PROBE.hold_s)
    return x + 1


def record_execution(wid: str) -> None:
    """Count an activity execution of instance ``wid`` in this process (W9's ownership check)."""
    LOG.executions[wid] = LOG.executions.get(wid, 0) + 1


def rss_kib() -> int | None:
    """This process's RSS in KiB after a full garbage collection."""
    gc.collect()
    return vm_kib("VmRSS")


_PAYLOADS: dict[tuple[int, bool], str | bytes] = {}


def make_payload(size: int, raw: bool) -> str | bytes:
    """``size`` bytes that do not compress: random bytes, or (JSON) base64 text of random bytes. Made once per
    process and reused."""
    key = (size, raw)
    if key not in _PAYLOADS:
        noise = os.urandom(size if raw else size * 3 // 4 + 3)
        _PAYLOADS[key] = noise if raw else base64.b64encode(noise)[:size].decode("ascii")
    return _PAYLOADS[key]


def event_data(size: int, raw: bool) -> dict[str, Any] | bytes:
    """An event payload of ``size`` bytes: raw bytes, or ``{"blob": <text>}``."""
    payload = make_payload(size, raw)
    return payload if isinstance(payload, bytes) else {PAYLOAD_KEY: payload}


def payload_len(data: Any) -> int:
    """The size of a received payload (bytes, text, or ``{"blob": text}``); -1 for anything else."""
    if isinstance(data, bytes | bytearray | str):
        return len(data)
    if isinstance(data, dict) and isinstance(data.get(PAYLOAD_KEY), str):
        return len(data[PAYLOAD_KEY])
    return -1


def check_len(k: int, value: Any, size: int) -> None:
    if isinstance(value, BaseException):
        raise value
    if not isinstance(value, dict) or value.get("k") != k or value.get("len") != size:
        raise ValueError(f"workflow {k} returned {str(value)[:200]!r}, expected len {size}")


async def wait_count(read: Any, target: int, limit_s: float, stall_s: float, poll_s: float = 0.25) -> tuple[int, str]:
    """Poll ``read() -> int`` until it reaches ``target``; returns the count and "" or why it stopped early
    (``timeout`` after ``limit_s``, ``stalled`` after ``stall_s`` without progress)."""
    started = time.monotonic()
    best, progressed = -1, started
    while True:
        value = read()
        value = await value if asyncio.iscoroutine(value) else value
        now = time.monotonic()
        if value >= target:
            return value, ""
        if value > best:
            best, progressed = value, now
        if now - started >= limit_s:
            return value, "timeout"
        if now - progressed >= stall_s:
            return value, "stalled"
        await asyncio.sleep(poll_s)


def ids_of(handles: Sequence[Any]) -> list[str]:
    return [str(h) for h in handles if not isinstance(h, BaseException)]
