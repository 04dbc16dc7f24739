"""HTTP problems: the error responses of the CloudEvents endpoint and how they are written.

Every error body is ``{"error": <message>, "error_type": <name>, "retryable": <bool>}`` so a producer can decide
whether to retry without parsing the message: ``retryable`` is true only for our own transient failures (overload,
storage unavailable, internal errors), never for a request that would fail again the same way.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

__all__ = ["HTTPProblem", "Send", "send_json"]

Send = Callable[[dict[str, Any]], Awaitable[None]]


class HTTPProblem(Exception):
    """A request is answered with an error status instead of being processed.

    Args:
        status: the HTTP status code.
        message: what went wrong and, where possible, how to fix it.
        error_type: a stable short name for the kind of error (``InvalidCloudEvent``, ``PayloadTooLarge``, ...).
        retryable: whether sending the same request later may succeed.
        headers: extra response headers.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        error_type: str,
        retryable: bool = False,
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type
        self.retryable = retryable
        self.headers = tuple(headers)

    def body(self) -> dict[str, Any]:
        return {"error": self.message, "error_type": self.error_type, "retryable": self.retryable}


async def send_json(send: Send, status: int, payload: dict[str, Any], headers: Iterable[tuple[str, str]] = ()) -> None:
    """Send a complete JSON response."""
    body = json.dumps(payload, ensure_ascii=True).encode("ascii")
    raw_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode("ascii")),
        *((name.encode("latin-1"), value.encode("latin-1")) for name, value in headers),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})
