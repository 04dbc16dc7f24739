"""W3 over HTTP (child side): an ASGI app served by uvicorn inside the measured process, and a small keep-alive
HTTP/1.1 client on asyncio streams (stdlib only, the same for every system) that POSTs structured CloudEvents to it.

uvicorn is imported only when a server is started, so the module stays importable with the standard library.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

START_LIMIT_S = 10.0


class AsgiServer:
    """uvicorn serving ``app`` on an ephemeral port of 127.0.0.1, in this event loop (no lifespan: the app is
    already initialized)."""

    def __init__(self, server: Any, task: asyncio.Future[None], port: int) -> None:
        self._server = server
        self._task = task
        self.port = port

    @classmethod
    async def start(cls, app: Any) -> AsgiServer:
        import uvicorn

        # host and port, not a socket of ours: uvicorn leaves Nagle's algorithm on for sockets it is handed, and a
        # response written in two parts then waits for the client's delayed ACK (~40 ms) between them.
        config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_level="warning", access_log=False)
        server = uvicorn.Server(config)
        task = asyncio.ensure_future(server.serve())
        deadline = time.monotonic() + START_LIMIT_S
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("uvicorn stopped before it started")
            if time.monotonic() > deadline:
                raise TimeoutError(f"uvicorn did not start within {START_LIMIT_S:.0f} s")
            await asyncio.sleep(0.01)
        port = int(server.servers[0].sockets[0].getsockname()[1])
        return cls(server, task, port)

    async def stop(self) -> None:
        self._server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._task, timeout=10)


class HttpClient:
    """One keep-alive HTTP/1.1 connection to 127.0.0.1:``port``."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is None or self._writer is None or self._writer.is_closing():
            self._reader, self._writer = await asyncio.open_connection("127.0.0.1", self.port)
        return self._reader, self._writer

    async def post(self, path: str, body: bytes, content_type: str) -> tuple[int, bytes]:
        """POST ``body``; return the status and the response body. A kept-alive connection the server has closed
        in the meantime is replaced, and the request sent once more on the new one (as HTTP clients do)."""
        reused = self._writer is not None and not self._writer.is_closing()
        try:
            return await self._post_once(path, body, content_type)
        except (ConnectionError, asyncio.IncompleteReadError):
            self._writer = None
            if not reused:
                raise
        return await self._post_once(path, body, content_type)

    async def _post_once(self, path: str, body: bytes, content_type: str) -> tuple[int, bytes]:
        reader, writer = await self._connect()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
        )
        writer.write(head.encode("ascii") + body)
        await writer.drain()
        status_line = await reader.readline()
        if not status_line:
            self._writer = None
            raise ConnectionError("the server closed the connection")
        status = int(status_line.split()[1])
        headers: dict[str, str] = {}
        while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        return status, await _body(reader, headers)

    async def post_cloudevent(self, path: str, event: dict[str, Any]) -> int:
        """POST ``event`` in structured mode (``application/cloudevents+json``); returns the status."""
        status, body = await self.post(path, json.dumps(event).encode(), "application/cloudevents+json")
        if status >= 300:
            raise RuntimeError(f"POST {path} answered {status}: {body[:200]!r}")
        return status

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()
            self._writer = None


async def _body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if "content-length" in headers:
        return await reader.readexactly(int(headers["content-length"]))
    if headers.get("transfer-encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                await reader.readline()
                return b"".join(chunks)
            chunks.append(await reader.readexactly(size))
            await reader.readline()
    return b""
