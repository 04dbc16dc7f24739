"""HTTP: the example's ASGI or WSGI application is served on loopback (uvicorn, or the standard library's WSGI
server in a thread) and CloudEvents built with the SDK are posted to it; the workflow they start must run."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import httpx

import edda
from edda import WorkflowContext
from tests.seed_examples.harnesses._registry import registry
from tests.seed_examples.harnesses._support import Run, execute, harness_app, running, wait_status
from tests.seed_examples.harnesses.standins import cloudevent, post_cloudevent, serve

SCENARIOS, scenario = registry()


@edda.workflow(event_handler=True)
async def seed_probe(ctx: WorkflowContext, order_id: str) -> str:
    """Started by a CloudEvent of type ``seed_probe`` (the workflow's name)."""
    return f"handled {order_id}"


@edda.workflow
async def seed_waiter(ctx: WorkflowContext) -> Any:
    return (await edda.wait_event(ctx, "never.arrives")).data


async def _instances(app: edda.EddaApp, name: str, timeout: float = 20.0) -> list[str]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        page = await app.find_instances(workflow_name=name)
        if page["instances"]:
            return [i["instance_id"] for i in page["instances"]]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {name} instance appeared")


@scenario("001_32_fast_api")
async def mounted(run: Run) -> None:
    module = await execute(run)
    edda_app: edda.EddaApp = module.edda_app
    async with serve(module.api, lifespan="on") as url:
        response = await post_cloudevent(url + "/workflows/any-path", "seed_probe", "shop", {"order_id": "M-1"})
        assert response.status_code == 202, (response.status_code, response.text)
        (started,) = await _instances(edda_app, "seed_probe")
        record = await wait_status(edda_app, started, "completed")
        waiting = await seed_waiter.start()
        await wait_status(edda_app, waiting, "waiting_for_event")
        async with httpx.AsyncClient() as client:
            cancel = await client.post(f"{url}/workflows/cancel/{waiting}")
        assert cancel.status_code < 300, (cancel.status_code, cancel.text)
        await wait_status(edda_app, waiting, "cancelled")
        stopping = asyncio.get_running_loop().time()
    elapsed = asyncio.get_running_loop().time() - stopping
    assert elapsed < 10, f"the server took {elapsed:.1f}s to stop with the mounted app"
    run.ok(
        f"mounted at /workflows: a CloudEvent started {started} ({record.get('output_data')}); "
        f"POST /workflows/cancel/{{id}} cancelled {waiting}"
    )


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def wsgi_server(app: Any) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@scenario("001_33_edda_app", "003_48_sqlalchemy_storage")
async def wsgi(run: Run) -> None:
    module = await execute(run)
    wsgi_app = getattr(module, "wsgi_application", None) or module.wsgi_app
    db_url = "sqlite:///workflow.db" if run.example_id == "001_33_edda_app" else "sqlite:///edda.db"
    event = cloudevent("seed_probe", "shop", {"order_id": "W-1"})
    from cloudevents.core.bindings.http import to_structured_event

    message = to_structured_event(event)
    with wsgi_server(wsgi_app) as url:
        response = await asyncio.to_thread(
            httpx.post, url + "/orders", headers=dict(message.headers), content=message.body, timeout=30
        )
        assert response.status_code == 202, (response.status_code, response.text)
        async with running(harness_app(run, db_url=db_url)) as app:  # another process's view of the same file
            (started,) = await _instances(app, "seed_probe")
            record = await wait_status(app, started, "completed")
    run.ok(
        f"the WSGI app accepted a CloudEvent (202) and the workflow it started completed: {record.get('output_data')}"
    )
