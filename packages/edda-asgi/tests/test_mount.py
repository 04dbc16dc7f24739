"""Mounted under Starlette or FastAPI: paths below the mount point are recognised, and no lifespan is needed."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from edda import EddaApp, WorkflowContext, wait_event, workflow
from edda_asgi import create_asgi_app


@workflow
async def mounted_waiter(ctx: WorkflowContext) -> Any:
    return (await wait_event(ctx, "mounted.go")).data


async def test_mount_under_fastapi(kit: Any, edda_app: EddaApp, client: httpx.AsyncClient) -> None:
    api = FastAPI()

    @api.get("/health")
    async def health() -> dict[str, str]:
        return {"ok": "yes"}

    api.mount("/workflows", edda_app)  # the seed's form: the EddaApp itself is the ASGI app
    await edda_app.initialize()
    try:
        async with kit.serve(api) as url:
            assert (await client.get(url + "/health")).json() == {"ok": "yes"}
            iid = await mounted_waiter.start()
            await kit.wait_status(edda_app, iid)
            response = await kit.post(client, url + "/workflows/any/path", kit.structured(kit.event("mounted.go", 1)))
            assert response.status_code == 202, response.text
            assert await edda_app.wait_for_result(iid, timeout=5) == 1
            other = await mounted_waiter.start()
            await kit.wait_status(edda_app, other)
            response = await client.post(f"{url}/workflows/cancel/{other}")
            assert response.status_code == 202, response.text
            await kit.wait_status(edda_app, other, "cancelled")
            # /cancel outside the mount point is FastAPI's, not Edda's
            assert (await client.post(f"{url}/cancel/{other}")).status_code == 404
    finally:
        await edda_app.shutdown()


async def test_mount_under_starlette_initializes_on_first_request(
    kit: Any, edda_app: EddaApp, client: httpx.AsyncClient
) -> None:
    """Starlette runs no lifespan for mounted apps: the first request initializes the EddaApp."""
    app = Starlette(
        routes=[
            Route("/", lambda request: PlainTextResponse("home")),
            Mount("/events", app=create_asgi_app(edda_app)),
        ]
    )
    async with kit.serve(app) as url:
        response = await kit.post(client, url + "/events/", kit.structured(kit.event("nobody.waits", {"a": 1})))
        assert response.status_code == 202, response.text
        found = await edda_app.find_instances()  # works: the app was initialized by that request
        assert found["instances"] == []
        response = await client.post(url + "/events/cancel/unknown")
        assert response.status_code == 404
    await edda_app.shutdown()


async def test_root_path_from_the_server(kit: Any, edda_app: EddaApp, client: httpx.AsyncClient) -> None:
    """uvicorn --root-path /api behind a proxy that strips /api: uvicorn sets scope["root_path"] and prefixes
    scope["path"] with it; the app strips it again to find /cancel/..."""
    async with kit.serve(create_asgi_app(edda_app), root_path="/api") as url:
        response = await client.post(url + "/cancel/missing")
        assert response.status_code == 404 and response.json()["error_type"] == "WorkflowNotFound"
