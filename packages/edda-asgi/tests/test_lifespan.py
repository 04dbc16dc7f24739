"""The ASGI lifespan initializes and shuts down the EddaApp."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from edda import EddaApp, WorkflowContext, workflow
from edda_asgi import create_asgi_app


@workflow
async def lifespan_probe(ctx: WorkflowContext) -> str:
    return "ran"


async def test_lifespan_initializes_and_shuts_down(kit: Any, edda_app: EddaApp) -> None:
    with pytest.raises(RuntimeError, match="initialize"):
        await lifespan_probe.start()
    async with kit.serve(create_asgi_app(edda_app), lifespan="on"):
        iid = await lifespan_probe.start()  # possible only once the app is initialized
        assert await edda_app.wait_for_result(iid, timeout=5) == "ran"
    with pytest.raises(RuntimeError, match="initialize"):
        await edda_app.start_workflow(lifespan_probe)


async def test_startup_failure_is_reported_to_the_server(caplog: Any) -> None:
    """Driven through the ASGI interface: uvicorn answers startup.failed by exiting the process."""
    app = create_asgi_app(EddaApp(service_name="broken", db_url="nosuchdb://x"))
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: list[dict[str, Any]] = []
    await inbox.put({"type": "lifespan.startup"})

    async def send(message: dict[str, Any]) -> None:
        outbox.append(message)

    await asyncio.wait_for(app({"type": "lifespan", "asgi": {"version": "3.0"}}, inbox.get, send), 5)
    assert [m["type"] for m in outbox] == ["lifespan.startup.failed"]
    assert "nosuchdb" in outbox[0]["message"]
    assert "Edda failed to start" in caplog.text


async def test_lifespan_through_the_asgi_interface(edda_app: EddaApp) -> None:
    app = create_asgi_app(edda_app)
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: list[str] = []

    async def send(message: dict[str, Any]) -> None:
        outbox.append(message["type"])

    task = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}}, inbox.get, send))
    await inbox.put({"type": "lifespan.startup"})
    while not outbox:
        await asyncio.sleep(0.001)
    iid = await lifespan_probe.start()
    assert await edda_app.wait_for_result(iid, timeout=5) == "ran"
    await inbox.put({"type": "lifespan.shutdown"})
    await asyncio.wait_for(task, 5)
    assert outbox == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    with pytest.raises(RuntimeError, match="initialize"):
        await lifespan_probe.start()
