"""Runner side of the child protocol (see :mod:`benchmarks.harness`): launch, handshake, time limits, kill.

Each child runs in its own session (process group), so a child that hangs is killed with its whole group after
its time limit and reported as ``timeout``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.databases import redact
from benchmarks.spec import PROTOCOL_PREFIX, Job
from benchmarks.venvs import REPO_ROOT

SETUP_TIMEOUT_S = 120.0
TEARDOWN_TIMEOUT_S = 45.0
_STDERR_TAIL_LINES = 12

ProbeHandler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


@dataclass
class ChildOutcome:
    status: str  # ok | error | timeout | unavailable
    info: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    phase: str = ""
    seconds: float = 0.0


class _ChildFailed(Exception):
    def __init__(self, status: str, phase: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.phase = phase


class _Child:
    def __init__(self, proc: asyncio.subprocess.Process, stderr_path: Path, prober: ProbeHandler | None) -> None:
        self.proc = proc
        self.stderr_path = stderr_path
        self.prober = prober

    async def expect(self, event: str, limit_s: float, phase: str) -> dict[str, Any]:
        deadline = time.monotonic() + limit_s
        assert self.proc.stdout is not None
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _ChildFailed("timeout", phase, f"no {event!r} within {limit_s:.0f} s (killed)")
            try:
                line = await asyncio.wait_for(self.proc.stdout.readline(), timeout=remaining)
            except TimeoutError:
                continue
            if not line:
                await self.reap()
                raise _ChildFailed("error", phase, f"exited ({self.proc.returncode}) before {event!r}: {self.tail()}")
            text = line.decode(errors="replace").strip()
            if not text.startswith(PROTOCOL_PREFIX):
                continue
            try:
                message = json.loads(text[len(PROTOCOL_PREFIX) :])
            except json.JSONDecodeError:
                continue
            if message.get("event") == "error":
                detail = redact(str(message.get("error", "")))
                raise _ChildFailed(str(message.get("kind", "error")), str(message.get("phase", phase)), detail)
            if message.get("event") == "probe":
                await self._answer_probe(message)
                continue
            if message.get("event") == event:
                return message

    async def _answer_probe(self, message: dict[str, Any]) -> None:
        """Measure for the child (see :mod:`benchmarks.probing`); the child waits for this line."""
        reply: dict[str, Any] = {}
        if self.prober is not None:
            try:
                reply = await self.prober(message)
            except Exception as exc:  # a probe that fails leaves figures blank, the run goes on
                reply = {"error": redact(f"{type(exc).__name__}: {exc}")}
        self.send(json.dumps(reply))

    def send(self, word: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((word + "\n").encode())

    def tail(self) -> str:
        try:
            lines = self.stderr_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return redact(" | ".join(line.strip() for line in lines[-_STDERR_TAIL_LINES:] if line.strip()))

    async def reap(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.proc.wait(), timeout=10)

    async def kill(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            await self.proc.wait()


async def run_child(
    python: Path,
    module: str,
    job: Job,
    measure_timeout: float,
    probes: Callable[[int], ProbeHandler] | None = None,
) -> ChildOutcome:
    """Run one measured child to completion, or until a time limit. ``probes(pid)`` makes the handler of the
    child's probe requests (its pid is its process group's id)."""
    env = {key: value for key, value in os.environ.items() if key not in {"PYTHONHOME", "VIRTUAL_ENV"}}
    env.update(job.to_env())
    env["PYTHONPATH"] = str(REPO_ROOT)
    env["PYTHONUNBUFFERED"] = "1"
    started = time.monotonic()
    with tempfile.NamedTemporaryFile(prefix="edda-bench-child-", suffix=".log") as stderr_file:
        proc = await asyncio.create_subprocess_exec(
            str(python),
            "-m",
            module,
            cwd=REPO_ROOT,
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr_file,
            start_new_session=True,
        )
        child = _Child(proc, Path(stderr_file.name), probes(proc.pid) if probes is not None else None)
        outcome = ChildOutcome(status="ok")
        phase = "setup"
        try:
            outcome.info = await child.expect("ready", SETUP_TIMEOUT_S, phase)
            outcome.info.pop("event", None)
            phase = "measure"
            child.send("go")
            outcome.metrics = (await child.expect("result", measure_timeout, phase))["metrics"]
            phase = "teardown"
            child.send("stop")
            try:
                await child.expect("done", TEARDOWN_TIMEOUT_S, phase)
                await child.reap()
            except _ChildFailed as exc:  # the measurement stands; note the shutdown problem
                outcome.error = f"teardown: {exc}"
        except _ChildFailed as exc:
            outcome.status = exc.status
            outcome.phase = exc.phase
            outcome.error = str(exc)
        finally:
            await child.kill()
            outcome.seconds = time.monotonic() - started
    return outcome
