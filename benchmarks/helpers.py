"""Helper processes of a benchmark child (stdlib only): W3's event sender and W5's workers.

A helper is the child's own module started again (``python -m <same module>``, same interpreter and job) with
:data:`ROLE_ENV` set. It stays in the child's process group, so when the runner kills a child over its time limit,
its helpers die with it. Helpers talk like children do (:class:`benchmarks.harness.Channel`): JSON events on
stdout, JSON commands (``{"op": ...}``) on stdin.

Commands a helper understands:

* ``send`` (``wid``, ``k``): deliver the event to waiter ``wid``; answers ``sent`` with ``t``, the time taken just
  before the delivery call;
* ``start`` (``k``): start ``crasher(k)`` in the background (edda-framework's ``start()`` only returns once the
  workflow suspends or ends); the victim reports ``inside`` with ``wid`` and ``t`` from within the long step;
* ``watch`` (``wid``, ``limit_s``): poll the workflow's status every :data:`WATCH_INTERVAL_S`; answers
  ``finished`` with ``status`` and ``t``, the time the status was first seen final (or ``status: "pending"`` after
  ``limit_s``);
* ``launch`` (``kind``, ``args``): start a :class:`~benchmarks.scalesys.ScaleSystem` workflow in the background
  (W7's victim);
* ``await`` (``wids``, ``limit_s``): answers ``results`` (see :func:`benchmarks.scaleworker.await_results`);
* ``batch`` (``first``, ``count``, ``limit_s``): W9's share of the work, answers ``batch_done`` (see
  :func:`benchmarks.scaleworker.run_batch`);
* ``stop``: tear down, answer ``done`` and exit.

``ready`` carries ``t_setup``, the time just before the system's setup began (W7: a restarted worker's replay
starts there).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from benchmarks.eventsys import NOT_FINISHED, PROBE, VICTIM, EventSystem
from benchmarks.harness import BenchError, Channel, classify
from benchmarks.scaleworker import await_results, run_batch
from benchmarks.spec import PROTOCOL_PREFIX, Job

ROLE_ENV = "EDDA_BENCH_ROLE"
WATCH_INTERVAL_S = 0.01


_LINE_LIMIT = 64 * 1024 * 1024  # a report line may be long (W9: executions of 2,000 instances from one worker)


class HelperFailed(BenchError):
    pass


class Helper:
    """Parent side: one helper process."""

    def __init__(self, role: str, proc: asyncio.subprocess.Process) -> None:
        self.role = role
        self.proc = proc
        self.started = time.monotonic()
        self._unread: list[dict[str, Any]] = []

    @classmethod
    async def spawn(cls, role: str) -> Helper:
        main = sys.modules["__main__"]
        module = getattr(getattr(main, "__spec__", None), "name", None)
        if not module:
            raise BenchError("helpers need the child to run as `python -m <module>`")
        env = dict(os.environ)
        env[ROLE_ENV] = role
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            module,
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=None,  # the child's stderr: the runner's log of this child
            limit=_LINE_LIMIT,
        )
        return cls(role, proc)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def send(self, op: str, **fields: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps({"op": op, **fields}) + "\n").encode())

    async def expect(self, event: str, limit_s: float) -> dict[str, Any]:
        """The next ``event`` message; raises ``TimeoutError`` after ``limit_s``, :class:`HelperFailed` if the
        helper reports an error or exits."""
        assert self.proc.stdout is not None
        for index, message in enumerate(self._unread):
            if message.get("event") == event:
                return self._unread.pop(index)
        deadline = time.monotonic() + limit_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{self.role} helper: no {event!r} within {limit_s:.0f} s")
            try:
                line = await asyncio.wait_for(self.proc.stdout.readline(), timeout=remaining)
            except TimeoutError:
                continue
            if not line:
                raise HelperFailed(f"{self.role} helper exited ({await self._returncode()}) before {event!r}")
            text = line.decode(errors="replace").strip()
            if not text.startswith(PROTOCOL_PREFIX):
                continue
            with contextlib.suppress(json.JSONDecodeError):
                message = json.loads(text[len(PROTOCOL_PREFIX) :])
                if message.get("event") == "error":
                    raise HelperFailed(f"{self.role} helper, {message.get('phase')}: {message.get('error')}")
                if message.get("event") == event:
                    return message
                self._unread.append(message)

    async def _returncode(self) -> int | None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.proc.wait(), timeout=5)
        return self.proc.returncode

    async def kill(self) -> None:
        """SIGKILL this helper (its pid only) and reap it."""
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()

    async def stop(self, limit_s: float = 30.0) -> None:
        """Ask for a clean teardown; kill it if it does not finish in time."""
        try:
            if self.proc.returncode is None:
                self.send("stop")
                await self.expect("done", limit_s)
                await self._returncode()
        except (TimeoutError, HelperFailed, ConnectionError):
            pass
        finally:
            await self.kill()


async def _watch(system: EventSystem, wid: str, limit_s: float) -> tuple[str, float]:
    deadline = time.monotonic() + limit_s
    while True:
        status = await system.status(wid)
        now = time.monotonic()
        if status != NOT_FINISHED or now >= deadline:
            return status, now
        await asyncio.sleep(WATCH_INTERVAL_S)


async def _command(system: Any, channel: Channel, command: dict[str, Any], background: list[Any]) -> None:
    op = command.get("op")
    if op == "send":
        sent = time.monotonic()
        await system.deliver(str(command["wid"]), int(command["k"]))
        channel.send("sent", t=sent)
    elif op == "start":
        background.append(asyncio.ensure_future(system.start("crasher", int(command["k"]))))
    elif op == "watch":
        status, seen = await _watch(system, str(command["wid"]), float(command["limit_s"]))
        channel.send("finished", status=status, t=seen)
    elif op == "launch":
        background.append(asyncio.ensure_future(system.launch(str(command["kind"]), dict(command["args"]))))
    elif op == "await":
        channel.send("results", **await await_results(system, list(command["wids"]), float(command["limit_s"])))
    elif op == "batch":
        report = await run_batch(system, int(command["first"]), int(command["count"]), float(command["limit_s"]))
        channel.send("batch_done", **report)
    else:
        raise BenchError(f"unknown helper command {op!r}")


async def _serve(system: EventSystem, job: Job, role: str, channel: Channel, phase: list[str]) -> None:
    if role == VICTIM:
        PROBE.arm(lambda k, wid: channel.send("inside", k=k, wid=wid, t=time.monotonic()))
    phase[0] = "setup"
    preload = getattr(system, "preload", None)
    if callable(preload):  # import the library first: t_setup then leaves imports out
        preload()
    t_setup = time.monotonic()
    await system.setup(job, role)
    background: list[asyncio.Future[str]] = []
    try:
        channel.send("ready", system=system.name, version=system.version, t_setup=t_setup)
        phase[0] = "serve"
        while True:
            command = await channel.receive()
            op = command.get("op")
            if op == "stop":
                break
            await _command(system, channel, command, background)
    finally:
        phase[0] = "teardown"
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await asyncio.wait_for(system.teardown(), timeout=30.0)
    channel.send("done")


def run_helper(make: Callable[[], EventSystem], role: str) -> int:
    """Entry point of a helper process (see :func:`benchmarks.child.main`)."""
    channel = Channel()
    phase = ["start"]
    try:
        asyncio.run(_serve(make(), Job.from_env(), role, channel, phase))
    except BaseException as exc:
        message = f"{type(exc).__name__}: {exc}".strip()
        channel.send("error", phase=phase[0], kind=classify(exc), error=message[:2000])
        if not isinstance(exc, Exception):
            raise
        return 1
    return 0
