"""Helpers of the edda-mcp tests: the test server (edda_mcp_testapp.py) in a process of its own, over streamable HTTP
(uvicorn on a free 127.0.0.1 port) or stdio, and the MCP SDK's real client talking to it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import uvicorn
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult

HERE = Path(__file__).resolve().parent

TOKEN = "s3cret-token-for-tests"


@dataclass
class ServerFiles:
    """What one test server works with: its database, its side-effect log and the gate file ``pipeline`` waits for."""

    db_url: str
    effects: Path
    gate: Path
    log: Path

    def env(self, *, token: str | None = None) -> dict[str, str]:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])),
            "EDDA_MCP_DB": self.db_url,
            "EDDA_MCP_EFFECTS": str(self.effects),
            "EDDA_MCP_GATE": str(self.gate),
        }
        env.pop("EDDA_MCP_TOKEN", None)
        if token is not None:
            env["EDDA_MCP_TOKEN"] = token
        return env

    def effects_lines(self) -> list[str]:
        return self.effects.read_text(encoding="utf-8").splitlines() if self.effects.exists() else []


def make_files(directory: Path) -> ServerFiles:
    directory.mkdir(parents=True, exist_ok=True)
    return ServerFiles(
        db_url=f"sqlite:///{directory / 'mcp.db'}",
        effects=directory / "effects.log",
        gate=directory / "gate",
        log=directory / "server.log",
    )


@dataclass
class HttpServer:
    """A running ``python -m edda_mcp_testapp http``."""

    process: subprocess.Popen[str]
    base_url: str
    files: ServerFiles

    @property
    def mcp_url(self) -> str:
        return self.base_url + "/mcp"


def start_http_server(files: ServerFiles, *, token: str | None = None) -> HttpServer:
    """Start the test server and wait for the line that says which port uvicorn listens on."""
    log = files.log.open("a", encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-m", "edda_mcp_testapp", "http"],
        env=files.env(token=token),
        cwd=files.log.parent,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    log.close()
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        process.wait(10)
        raise AssertionError(f"the test server did not start:\n{files.log.read_text(encoding='utf-8')}")
    port = json.loads(line)["port"]
    return HttpServer(process=process, base_url=f"http://127.0.0.1:{port}", files=files)


def stop(server: HttpServer) -> None:
    """Stop it gracefully (SIGTERM: uvicorn runs the lifespan's shutdown)."""
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(30)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(10)
    if server.process.stdout is not None:
        server.process.stdout.close()


@contextlib.contextmanager
def http_server(files: ServerFiles, *, token: str | None = None) -> Iterator[HttpServer]:
    server = start_http_server(files, token=token)
    try:
        yield server
    finally:
        stop(server)


@contextlib.asynccontextmanager
async def http_session(
    url: str, *, token: str | None = None, statuses: list[int] | None = None
) -> AsyncIterator[ClientSession]:
    """An initialized ClientSession over streamable HTTP (the SDK's client), sending ``token`` as bearer token;
    the HTTP status of every response is appended to ``statuses``."""
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    seen = statuses if statuses is not None else []

    async def on_response(response: httpx2.Response) -> None:
        seen.append(response.status_code)

    timeout = httpx2.Timeout(30.0, read=300.0)
    async with (
        httpx2.AsyncClient(headers=headers, timeout=timeout, event_hooks={"response": [on_response]}) as client,
        streamable_http_client(url, http_client=client) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


@contextlib.asynccontextmanager
async def stdio_session(files: ServerFiles) -> AsyncIterator[ClientSession]:
    """An initialized ClientSession over stdio with ``python -m edda_mcp_testapp stdio`` as its subprocess."""
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "edda_mcp_testapp", "stdio"], env=files.env(), cwd=files.log.parent
    )
    with files.log.open("a", encoding="utf-8") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            yield session


class _QuietServer(uvicorn.Server):
    def capture_signals(self) -> contextlib.AbstractContextManager[None]:  # type: ignore[override]
        return contextlib.nullcontext()  # the test process keeps its own signal handlers


@contextlib.asynccontextmanager
async def serve_here(app: Any) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn on a free 127.0.0.1 port in this event loop (lifespan on); yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    web = _QuietServer(uvicorn.Config(app, lifespan="on", log_level="warning", access_log=False))
    task = asyncio.create_task(web.serve(sockets=[sock]))
    try:
        while not web.started:
            if task.done():
                task.result()
                raise RuntimeError("uvicorn stopped before it started")
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        web.should_exit = True
        await asyncio.wait_for(task, 30)
        sock.close()


def text_of(result: CallToolResult) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


def instance_id_in(result: CallToolResult) -> str:
    """The id in the start tool's text (``Instance ID: ...``), checked against its structured content."""
    found = re.search(r"^Instance ID: (\S+)$", text_of(result), re.M)
    assert found, text_of(result)
    assert result.structured_content is not None and result.structured_content["instance_id"] == found.group(1)
    return found.group(1)


async def wait_for(check: Callable[[], Any], what: str, *, timeout: float = 30.0) -> Any:
    """Poll ``check()`` (sync or async) until it returns something truthy; fail after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def status_until(session: ClientSession, tool: str, instance_id: str, *statuses: str) -> CallToolResult:
    """Call ``tool`` (an ``X_status`` tool) until the instance's status is one of ``statuses``."""

    async def reached() -> CallToolResult | None:
        result = await session.call_tool(tool, {"instance_id": instance_id})
        assert not result.is_error, text_of(result)
        assert result.structured_content is not None
        return result if result.structured_content["status"] in statuses else None

    return await wait_for(reached, f"{instance_id} to reach {statuses}")
