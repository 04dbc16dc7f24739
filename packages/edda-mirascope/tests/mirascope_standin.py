"""An OpenAI-compatible HTTP stand-in on 127.0.0.1 for the Mirascope tests (standard library only).

It speaks the two APIs Mirascope's OpenAI provider uses: the Responses API (``POST /v1/responses``, which Mirascope
picks for ``openai/gpt-4o-mini``) and Chat Completions (``POST /v1/chat/completions``, picked for
``openai/gpt-4o-mini:completions``), with the response bodies and error bodies the real API returns. Every request
is recorded, so a test can count them; what to answer is decided per request by a ``handler`` the test sets.

It is a real threaded HTTP/1.1 server (``http.server``), so it also serves other processes: the SIGKILL test's
workers talk to it while the test process holds a request open on purpose.

Run it on its own (``python mirascope_standin.py``) to serve an echo model and print its base URL.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Reply", "Request", "StandIn", "running_standin"]

RESPONSES = "/v1/responses"
COMPLETIONS = "/v1/chat/completions"


@dataclass(frozen=True)
class Request:
    """One request the stand-in received."""

    path: str
    body: dict[str, Any]

    @property
    def api(self) -> str:
        return "responses" if self.path == RESPONSES else "completions"

    @property
    def model(self) -> str:
        return str(self.body.get("model"))

    def _items(self) -> list[dict[str, Any]]:
        return list(self.body.get("input") or self.body.get("messages") or [])

    def texts(self, role: str) -> list[str]:
        """The text of every message with ``role`` ("user", "assistant", or "system", which the Responses API
        calls "developer"), in order."""
        roles = {role, "developer"} if role == "system" else {role}
        found = []
        for item in self._items():
            if item.get("role") not in roles or item.get("type", "message") != "message":
                continue
            content = item.get("content")
            if isinstance(content, str):
                found.append(content)
            elif isinstance(content, list):
                found.extend(p["text"] for p in content if isinstance(p, dict) and "text" in p)
        return found

    @property
    def last_user_text(self) -> str:
        texts = self.texts("user")
        return texts[-1] if texts else ""

    @property
    def tool_outputs(self) -> list[tuple[str, str]]:
        """``(call_id, output)`` of every tool result sent back to the model, in order."""
        found = []
        for item in self._items():
            if item.get("type") == "function_call_output":
                found.append((item["call_id"], item["output"]))
            elif item.get("role") == "tool":
                found.append((item["tool_call_id"], item["content"]))
        return found

    @property
    def tool_names(self) -> list[str]:
        """The names of the tools offered to the model."""
        names = []
        for tool in self.body.get("tools") or []:
            names.append(tool["name"] if "name" in tool else tool["function"]["name"])
        return names

    @property
    def json_schema(self) -> dict[str, Any] | None:
        """The strict JSON schema the output must follow (structured output), if any."""
        if self.api == "responses":
            fmt = (self.body.get("text") or {}).get("format") or {}
            return fmt.get("schema") if fmt.get("type") == "json_schema" else None
        fmt = self.body.get("response_format") or {}
        return (fmt.get("json_schema") or {}).get("schema") if fmt.get("type") == "json_schema" else None


@dataclass(frozen=True)
class Reply:
    """What to answer: text, tool calls, or an HTTP error (``status`` >= 400 with ``error`` as the message)."""

    text: str | None = None
    tool_calls: tuple[tuple[str, dict[str, Any]], ...] = ()
    status: int = 200
    error: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    usage: tuple[int, int] = (12, 7)


Handler = Callable[[Request], Reply]


def echo(request: Request) -> Reply:
    """The default model: answers ``echo: <last user text>``."""
    return Reply(text=f"echo: {request.last_user_text}")


@dataclass
class StandIn:
    """The server's state: the recorded requests and the handler that decides each answer."""

    handler: Handler = echo
    requests: list[Request] = field(default_factory=list)
    base_url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def count(self, predicate: Callable[[Request], bool] | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.requests if predicate is None or predicate(r))

    def record(self, request: Request) -> int:
        with self._lock:
            self.requests.append(request)
            return next(self._ids)

    def next_id(self) -> int:
        with self._lock:
            return next(self._ids)


def _error_body(reply: Reply) -> dict[str, Any]:
    kind = {400: "invalid_request_error", 401: "invalid_request_error", 404: "invalid_request_error"}
    return {
        "error": {
            "message": reply.error or "The server had an error while processing your request.",
            "type": kind.get(reply.status, "server_error"),
            "param": None,
            "code": None,
        }
    }


def _responses_body(request: Request, reply: Reply, n: int, ids: Callable[[], int]) -> dict[str, Any]:
    output: list[dict[str, Any]] = []
    if reply.text is not None:
        output.append(
            {
                "type": "message",
                "id": f"msg_{n:04d}",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": reply.text, "annotations": []}],
            }
        )
    for name, args in reply.tool_calls:
        k = ids()
        output.append(
            {
                "type": "function_call",
                "id": f"fc_{k:04d}",
                "call_id": f"call_{k:04d}",
                "name": name,
                "arguments": json.dumps(args),
                "status": "completed",
            }
        )
    prompt, completion = reply.usage
    return {
        "id": f"resp_{n:04d}",
        "object": "response",
        "created_at": 1767225600 + n,
        "status": "completed",
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "max_output_tokens": request.body.get("max_output_tokens"),
        "model": f"{request.model}-2024-07-18",
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": True,
        "temperature": request.body.get("temperature", 1.0),
        "text": request.body.get("text") or {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": request.body.get("tools") or [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": {
            "input_tokens": prompt,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": completion,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": prompt + completion,
        },
        "user": None,
        "metadata": {},
    }


def _completions_body(request: Request, reply: Reply, n: int, ids: Callable[[], int]) -> dict[str, Any]:
    calls = []
    for name, args in reply.tool_calls:
        calls.append(
            {"id": f"call_{ids():04d}", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
        )
    message: dict[str, Any] = {"role": "assistant", "content": reply.text, "refusal": None, "annotations": []}
    if calls:
        message["tool_calls"] = calls
    prompt, completion = reply.usage
    return {
        "id": f"chatcmpl-{n:04d}",
        "object": "chat.completion",
        "created": 1767225600 + n,
        "model": f"{request.model}-2024-07-18",
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": "tool_calls" if calls else "stop"}
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
        },
        "service_tier": "default",
        "system_fingerprint": "fp_standin",
    }


def _make_handler(state: StandIn) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet: the tests read state, not logs
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length)
            if self.path not in (RESPONSES, COMPLETIONS):
                self._send(404, {"error": {"message": f"Unknown path {self.path}", "type": "invalid_request_error"}})
                return
            request = Request(self.path, json.loads(raw))
            n = state.record(request)
            reply = state.handler(request)
            if reply.status >= 400:
                self._send(reply.status, _error_body(reply), reply.headers)
                return
            build = _responses_body if self.path == RESPONSES else _completions_body
            self._send(200, build(request, reply, n, state.next_id), reply.headers)

        def _send(self, status: int, payload: dict[str, Any], headers: tuple[tuple[str, str], ...] = ()) -> None:
            body = json.dumps(payload).encode()
            # The client may be gone (a worker killed while its request was held): nothing to answer then.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.send_header("x-request-id", f"req_{state.next_id():06d}")
                for name, value in headers:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

    return _Handler


@contextlib.contextmanager
def running_standin(handler: Handler = echo) -> Iterator[StandIn]:
    """Serve a stand-in on a free port of 127.0.0.1 in a background thread; ``state.base_url`` ends with ``/v1``."""
    state = StandIn(handler=handler)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(state))
    server.daemon_threads = True
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), name="openai-standin", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


if __name__ == "__main__":
    with running_standin() as standin:
        print(standin.base_url, flush=True)
        threading.Event().wait()
