"""WSGI through a2wsgi, under real WSGI servers on loopback: wsgiref in a thread, and gunicorn in a process."""

from __future__ import annotations

import asyncio
import shutil
import signal
import socketserver
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import httpx
import pytest

from edda import EddaApp, WorkflowContext, wait_event, workflow
from edda_asgi import create_wsgi_app


@workflow
async def wsgi_waiter(ctx: WorkflowContext) -> Any:
    return (await wait_event(ctx, "wsgi.go")).data


class ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def wsgi(edda_app: EddaApp) -> Iterator[tuple[str, Any]]:
    application = create_wsgi_app(edda_app, max_body_bytes=4096)
    server = make_server("127.0.0.1", 0, application, server_class=ThreadingWSGIServer, handler_class=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", application
    finally:
        server.shutdown()
        server.server_close()
        asyncio.run_coroutine_threadsafe(edda_app.shutdown(), application.loop).result(10)


def test_events_and_cancel_under_wsgiref(kit: Any, edda_app: EddaApp, wsgi: tuple[str, Any]) -> None:
    url, application = wsgi

    def call(coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, application.loop).result(10)

    with httpx.Client(timeout=10) as client:
        # The first request initializes the EddaApp on the WSGI worker's event loop (WSGI has no lifespan).
        assert client.post(url + "/cancel/nobody").status_code == 404
        iid = call(wsgi_waiter.start())
        call(kit.wait_status(edda_app, iid))
        message = kit.structured(kit.event("wsgi.go", {"via": "wsgi"}))
        response = client.post(url + "/hooks/anything", headers=message.headers, content=message.body)
        assert response.status_code == 202, response.text
        assert call(edda_app.wait_for_result(iid, timeout=5)) == {"via": "wsgi"}

        binary = kit.binary(kit.event("wsgi.go", b"\x00\x01", datacontenttype="application/octet-stream"))
        second = call(wsgi_waiter.start())
        call(kit.wait_status(edda_app, second))
        assert client.post(url, headers=binary.headers, content=binary.body).status_code == 202
        assert call(edda_app.wait_for_result(second, timeout=5)) == b"\x00\x01"

        third = call(wsgi_waiter.start())
        call(kit.wait_status(edda_app, third))
        assert client.post(f"{url}/cancel/{third}").status_code == 202
        call(kit.wait_status(edda_app, third, "cancelled"))
        assert client.post(f"{url}/cancel/{third}").status_code == 409

        assert client.get(url).status_code == 405
        assert (
            client.post(url, content=b"x" * 5000, headers={"content-type": "application/cloudevents+json"}).status_code
            == 413
        )
        not_an_event = client.post(url, content=b"{}", headers={"content-type": "text/plain"})
        assert not_an_event.status_code == 400 and not_an_event.json()["error_type"] == "NotACloudEvent"
        assert (
            client.post(url, content=b"{", headers={"content-type": "application/cloudevents+json"}).status_code == 400
        )


GUNICORN_APP = """
    from pathlib import Path

    from edda import EddaApp, WorkflowContext, activity, workflow
    from edda.wsgi import create_wsgi_app


    @activity
    async def write(ctx: WorkflowContext, path: str, text: str) -> None:
        Path(path).write_text(text)


    @workflow(event_handler=True)
    async def gunicorn_job(ctx: WorkflowContext, path: str, text: str) -> None:
        await write(ctx, path, text)


    application = EddaApp(service_name="gunicorn-test", db_url="memory://")
    wsgi_application = create_wsgi_app(application)
"""


@pytest.mark.skipif(shutil.which("gunicorn", path=str(Path(sys.executable).parent)) is None, reason="needs gunicorn")
def test_gunicorn_serves_the_seed_wsgi_example(kit: Any, tmp_path: Path) -> None:
    (tmp_path / "demo_app.py").write_text(textwrap.dedent(GUNICORN_APP))
    sock = kit.free_socket()
    port = sock.getsockname()[1]
    sock.close()
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    proc = subprocess.Popen(
        [
            gunicorn,
            "--workers",
            "1",
            "--bind",
            f"127.0.0.1:{port}",
            "--graceful-timeout",
            "5",
            "demo_app:wsgi_application",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        out = tmp_path / "out.txt"
        message = kit.structured(kit.event("gunicorn_job", {"path": str(out), "text": "from gunicorn"}))
        deadline = time.monotonic() + 30
        with httpx.Client(timeout=10) as client:
            while True:
                try:
                    response = client.post(f"http://127.0.0.1:{port}/", headers=message.headers, content=message.body)
                    break
                except httpx.ConnectError:
                    assert proc.poll() is None and time.monotonic() < deadline, "gunicorn did not start"
                    time.sleep(0.1)
            assert response.status_code == 202, response.text
            while not out.exists():
                assert time.monotonic() < deadline, "the workflow did not run"
                time.sleep(0.02)
            assert out.read_text() == "from gunicorn"
            assert client.post(f"http://127.0.0.1:{port}/cancel/nope").status_code == 404
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, output
    assert "Traceback" not in output, output
