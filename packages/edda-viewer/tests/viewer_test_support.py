"""Helpers of the viewer's tests: throwaway databases, the viewer and a worker as real processes, and what the
browser tests need (the system's /usr/bin/chromium, driven by Playwright; no browser is downloaded).

PostgreSQL runs when ``EDDA_TEST_POSTGRES_URL`` is set (each test gets a database of its own, dropped afterwards, by
``tests.integration.databases``); without it those tests skip with a message saying how to enable them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tests.integration.databases import temporary_database

T = TypeVar("T")

TESTS_DIR = Path(__file__).resolve().parent
REPO = TESTS_DIR.parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = REPO / "docs" / "images" / "viewer"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a viewer or worker process: pytest's markers removed (NiceGUI changes its behaviour when
    it sees them), the demo workflows importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "NICEGUI_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS_DIR), str(REPO / "packages" / "edda-viewer" / "src")])
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("EDDA_DB_URL", None)
    return env | extra


class Process:
    """A child process whose output is collected in a file; stopped with SIGTERM, then SIGKILL."""

    def __init__(self, args: list[str], *, env: dict[str, str], cwd: Path, log: Path) -> None:
        self.log_path = log
        self._log = log.open("wb")
        self.proc = subprocess.Popen(args, env=env, cwd=cwd, stdout=self._log, stderr=subprocess.STDOUT)

    @property
    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        self._log.close()


def wait_until_serving(process: Process, base: str, *, timeout: float = 60.0) -> None:
    """Poll ``base`` until it answers (any status: 401 counts), or fail with the process's output."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.proc.poll() is not None:
            raise AssertionError(f"the viewer exited with {process.proc.returncode}:\n{process.output}")
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(base + "/", timeout=2.0)
            return
        time.sleep(0.2)
    raise AssertionError(f"the viewer did not answer within {timeout} s:\n{process.output}")


def start_viewer_process(
    db_url: str, tmp: Path, *, extra_args: tuple[str, ...] = (), env: dict[str, str] | None = None
) -> tuple[Process, str]:
    """``edda-viewer -m viewer_demo_workflows`` on a free port (the database URL passed in EDDA_DB_URL)."""
    port = free_port()
    prefix = f"sqlite:///{tmp}/"
    if db_url.startswith(prefix):  # a file in the viewer's working directory: shown as such in the header
        db_url = "sqlite:///" + db_url[len(prefix) :]
    args = [sys.executable, "-m", "edda_viewer.cli", "-m", "viewer_demo_workflows", "--port", str(port), *extra_args]
    process = Process(args, env=child_env(EDDA_DB_URL=db_url, **(env or {})), cwd=tmp, log=tmp / f"viewer-{port}.log")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(process, base)
    except BaseException:
        process.stop()
        raise
    return process, base


def start_worker_process(db_url: str, tmp: Path, *, broker_url: str | None = None) -> Process:
    """A worker (an EddaApp that runs the demo workflows) on ``db_url``; with ``broker_url``, its outbox relayer
    publishes there."""
    args = [sys.executable, str(TESTS_DIR / "viewer_demo_worker.py")]
    log = tmp / f"worker-{time.monotonic_ns()}.log"
    extra = {"VIEWER_DEMO_BROKER_URL": broker_url} if broker_url else {}
    return Process(args, env=child_env(EDDA_DB_URL=db_url, **extra), cwd=tmp, log=log)


class LoopThread:
    """An event loop in a thread of its own, for module-scoped fixtures that need async set-up and tear-down (the
    tests' own loops are per test)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 120) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@contextlib.contextmanager
def database(kind: str, tmp: Path) -> Iterator[str]:
    """A fresh database of ``kind`` for a module's processes (see :func:`temporary_database`)."""
    loop = LoopThread()
    manager = temporary_database(kind, tmp)
    try:
        url = loop.run(manager.__aenter__())
        try:
            yield url
        finally:
            loop.run(manager.__aexit__(None, None, None))
    finally:
        loop.close()


def require_chromium() -> None:
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium package to run the browser tests")
