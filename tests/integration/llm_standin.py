"""A chat-completions stand-in on 127.0.0.1 that counts requests, and the stdlib client that test steps and nodes use.

``POST /v1/chat/completions`` with OpenAI's request shape (``model``, ``messages``) gets OpenAI's response shape
back, the answer being ``"answer to <last user message>"``. It is a real threaded HTTP server, so worker processes
started by a test call it too; ``hold`` lets a test keep chosen requests open (until ``release``) to kill the
process that made them.
"""

from __future__ import annotations

import contextlib
import json
import threading
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["StandIn", "ask_llm", "running_standin"]

PATH = "/v1/chat/completions"


@dataclass
class StandIn:
    """The server's state: the prompts it was asked, and which requests to hold."""

    base_url: str = ""
    prompts: list[str] = field(default_factory=list)
    hold: Callable[[str], bool] = lambda prompt: False
    held: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, prompt: str) -> None:
        with self._lock:
            self.prompts.append(prompt)

    def count(self, prompt: str) -> int:
        with self._lock:
            return self.prompts.count(prompt)


@contextlib.contextmanager
def running_standin(hold: Callable[[str], bool] | None = None) -> Iterator[StandIn]:
    state = StandIn()
    if hold is not None:
        state.hold = hold

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            if self.path != PATH:
                self._send(404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error"}})
                return
            prompt = str(body["messages"][-1]["content"])
            state.record(prompt)
            if state.hold(prompt):
                state.held.set()
                state.release.wait(120)
            self._send(
                200,
                {
                    "id": f"chatcmpl-{len(state.prompts)}",
                    "object": "chat.completion",
                    "created": 1767225600,
                    "model": body.get("model", "gpt-4o-mini"),
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": f"answer to {prompt}"},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
                },
            )

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


def ask_llm(base_url: str, prompt: str) -> str:
    """One chat completion (blocking; call it with ``asyncio.to_thread``)."""
    request = urllib.request.Request(
        base_url + "/chat/completions",
        data=json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": prompt}]}).encode(),
        headers={"Content-Type": "application/json", "Authorization": "Bearer sk-test"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=130) as response:
        return json.loads(response.read())["choices"][0]["message"]["content"]
