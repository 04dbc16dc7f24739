"""Reading a request body within a size limit and a time limit.

The limit is enforced twice: a declared ``Content-Length`` above it is refused before a single byte is read, and
the bytes actually received are counted while streaming (chunked requests and lying clients), so no request can make
the server buffer more than ``limit`` bytes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from edda_asgi._problems import HTTPProblem

__all__ = ["ClientDisconnected", "declared_length", "read_body"]

Receive = Callable[[], Awaitable[dict[str, Any]]]

# After refusing a body, up to this much more of it is read and discarded (never kept) before answering, so the
# client, which usually sends its whole body before it reads the answer, gets to read the 413 instead of having its
# connection reset (closing a socket with unread input resets it). Larger bodies are answered at once.
DRAIN_BYTES = 4 * 1024 * 1024
DRAIN_SECONDS = 2.0


class ClientDisconnected(Exception):
    """The client went away before sending its whole body; there is no one to answer."""


def too_large(limit: int) -> HTTPProblem:
    return HTTPProblem(
        413,
        f"Request body exceeds the limit of {limit} bytes; send smaller events (or raise max_body_bytes).",
        error_type="PayloadTooLarge",
    )


def declared_length(value: str | None) -> int | None:
    """The byte count of a ``Content-Length`` header, or ``None`` without one.

    Raises:
        HTTPProblem: 400 if it is not a non-negative integer.
    """
    if value is None:
        return None
    text = value.strip()
    if not text.isdigit() or not text.isascii():
        raise HTTPProblem(400, f"Content-Length {value[:40]!r} is not a byte count", error_type="InvalidHeader")
    return int(text)


async def refuse_declared(receive: Receive, length: int, limit: int, *, drain: bool = True) -> None:
    """Refuse a body whose declared length exceeds ``limit``, discarding it first if it is small enough to drain.

    Raises:
        HTTPProblem: 413, always.
    """
    if drain and length <= limit + DRAIN_BYTES:
        await _drain(receive, DRAIN_BYTES + limit)
    raise too_large(limit)


async def _drain(receive: Receive, budget: int) -> None:
    """Read and discard the rest of the body, within ``budget`` bytes and ``DRAIN_SECONDS``."""
    try:
        async with asyncio.timeout(DRAIN_SECONDS):
            while budget > 0:
                message = await receive()
                if message["type"] == "http.disconnect" or not message.get("more_body", False):
                    return
                budget -= len(message.get("body", b""))
    except TimeoutError:
        return


async def read_body(receive: Receive, *, limit: int, timeout: float) -> bytes:
    """Read the whole request body, refusing it once it passes ``limit`` bytes.

    Raises:
        HTTPProblem: 413 past the limit, 408 if the body does not arrive within ``timeout`` seconds (the timer does
            not run while a refused body is drained).
        ClientDisconnected: the client disconnected first.
    """
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise ClientDisconnected
                chunk = message.get("body", b"")
                size += len(chunk)
                more = message.get("more_body", False)
                if size > limit:
                    break
                if chunk:
                    chunks.append(chunk)
                if not more:
                    return b"".join(chunks)
    except TimeoutError:
        raise HTTPProblem(
            408,
            f"The request body did not arrive within {timeout:g} s",
            error_type="RequestTimeout",
            retryable=True,
        ) from None
    chunks.clear()
    if more:
        await _drain(receive, DRAIN_BYTES)
    raise too_large(limit)
