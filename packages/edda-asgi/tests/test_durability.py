"""A 202 is a promise: the event is stored durably before the answer, so killing the server right after it loses
nothing. Real processes, a real SQLite file, SIGKILL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest

SERVER = """
    import asyncio, json, os, socket, sys

    import uvicorn

    from edda import EddaApp, WorkflowContext, wait_event, workflow
    from edda_asgi import create_asgi_app


    @workflow
    async def promised(ctx: WorkflowContext) -> dict:
        event = await wait_event(ctx, "promise.kept")
        if os.environ["PHASE"] == "serve":
            await asyncio.sleep(3600)  # the first process never gets to finish: it is killed
        return {"data": event.data, "id": event.id}


    async def serve(db: str) -> None:
        app = EddaApp(service_name="promise", db_url="sqlite:///" + db)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        server = uvicorn.Server(uvicorn.Config(create_asgi_app(app), lifespan="on", log_level="warning"))
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            await asyncio.sleep(0.01)
        iid = await promised.start()
        while (await app.get_instance(iid)).status != "waiting_for_event":
            await asyncio.sleep(0.01)
        print(json.dumps({"port": sock.getsockname()[1], "instance_id": iid}), flush=True)
        await task


    async def resume(db: str, iid: str) -> None:
        async with EddaApp(service_name="promise", db_url="sqlite:///" + db) as app:
            print(json.dumps(await app.wait_for_result(iid, timeout=30)), flush=True)


    if os.environ["PHASE"] == "serve":
        asyncio.run(serve(sys.argv[1]))
    else:
        asyncio.run(resume(sys.argv[1], sys.argv[2]))
"""


def test_event_survives_sigkill_right_after_202(kit: Any, tmp_path: Path) -> None:
    problem = kit.sqlite_problem()
    if problem:
        pytest.skip(problem)
    script = tmp_path / "server.py"
    script.write_text(textwrap.dedent(SERVER))
    db = str(tmp_path / "promise.db")
    env = {**os.environ, "PHASE": "serve"}
    server = subprocess.Popen([sys.executable, str(script), db], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        ready = json.loads(server.stdout.readline())
        message = kit.structured(
            kit.event("promise.kept", {"amount": 42}, id="evt-42", eddainstanceid=ready["instance_id"])
        )
        response = httpx.post(
            f"http://127.0.0.1:{ready['port']}/", headers=message.headers, content=message.body, timeout=10
        )
        server.kill()  # SIGKILL the moment the 202 is in: no shutdown, no flush, nothing
        assert response.status_code == 202, response.text
    finally:
        server.kill()
        server.wait(10)
        if server.stdout is not None:
            server.stdout.close()
    resumed = subprocess.run(
        [sys.executable, str(script), db, ready["instance_id"]],
        env={**os.environ, "PHASE": "resume"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout.strip().splitlines()[-1]) == {"data": {"amount": 42}, "id": "evt-42"}
