"""POST /cancel/{instance_id}: 202, 404, 409, and its protection by token (401) or authorizer (403)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from edda import EddaApp, WorkflowContext, activity, on_failure, wait_event, workflow
from edda_asgi import create_asgi_app

compensated: list[str] = []


@activity
async def refund(ctx: WorkflowContext, order_id: str) -> None:
    compensated.append(order_id)


@activity
@on_failure(refund)
async def charge(ctx: WorkflowContext, order_id: str) -> str:
    return f"charged {order_id}"


@workflow
async def cancellable_order(ctx: WorkflowContext, order_id: str) -> str:
    await charge(ctx, order_id)
    await wait_event(ctx, "order.shipped")
    return "shipped"


@workflow
async def cancel_quick(ctx: WorkflowContext) -> str:
    return "done"


async def test_cancel_a_waiting_workflow_runs_its_compensations(
    kit: Any, edda_app: EddaApp, client: httpx.AsyncClient
) -> None:
    async with kit.serve(create_asgi_app(edda_app)) as url:
        iid = await cancellable_order.start(order_id="C-1")
        await kit.wait_status(edda_app, iid)
        response = await client.post(f"{url}/cancel/{iid}")
        assert response.status_code == 202
        assert response.json() == {"status": "accepted", "instance_id": iid}
        await kit.wait_status(edda_app, iid, "cancelled")
    assert "C-1" in compensated


async def test_cancel_unknown_instance_is_404(kit: Any, edda_app: EddaApp, client: httpx.AsyncClient) -> None:
    async with kit.serve(create_asgi_app(edda_app)) as url:
        response = await client.post(f"{url}/cancel/no-such-instance")
    assert response.status_code == 404
    assert response.json()["error_type"] == "WorkflowNotFound" and response.json()["retryable"] is False


async def test_cancel_finished_instance_is_409(kit: Any, edda_app: EddaApp, client: httpx.AsyncClient) -> None:
    async with kit.serve(create_asgi_app(edda_app)) as url:
        iid = await cancel_quick.start()
        await edda_app.wait_for_result(iid, timeout=5)
        response = await client.post(f"{url}/cancel/{iid}")
        assert response.status_code == 409
        assert "completed" in response.json()["error"]
        assert await kit.status_of(edda_app, iid) == "completed"


async def test_cancel_ids_are_percent_decoded(kit: Any, edda_app: EddaApp, client: httpx.AsyncClient) -> None:
    async with kit.serve(create_asgi_app(edda_app)) as url:
        iid = await edda_app.start_workflow(cancellable_order, {"order_id": "x"}, instance_id="order 7/ü")
        await kit.wait_status(edda_app, iid)
        response = await client.post(f"{url}/cancel/order%207%2F%C3%BC")
        assert response.status_code == 202, response.text
        await kit.wait_status(edda_app, iid, "cancelled")


@pytest.mark.parametrize("path", ["/cancel", "/cancel/"])
async def test_cancel_without_id_is_400(kit: Any, edda_app: EddaApp, client: httpx.AsyncClient, path: str) -> None:
    async with kit.serve(create_asgi_app(edda_app)) as url:
        response = await client.post(url + path)
    assert response.status_code == 400 and response.json()["error_type"] == "InvalidPath"


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"authorization": "Bearer wrong"}, 401),
        ({"authorization": "Basic czNjcmV0"}, 401),
        ({"authorization": "s3cret"}, 401),
        ({"authorization": "Bearer s3cret"}, 202),
        ({"authorization": "bearer s3cret"}, 202),
    ],
)
async def test_cancel_token(
    kit: Any, edda_app: EddaApp, client: httpx.AsyncClient, headers: dict[str, str], status: int
) -> None:
    async with kit.serve(create_asgi_app(edda_app, cancel_token="s3cret")) as url:
        iid = await cancellable_order.start(order_id="T")
        await kit.wait_status(edda_app, iid)
        response = await client.post(f"{url}/cancel/{iid}", headers=headers)
        assert response.status_code == status, response.text
        if status == 401:
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert response.json()["error_type"] == "Unauthorized"
            assert await kit.status_of(edda_app, iid) == "waiting_for_event"
        else:
            await kit.wait_status(edda_app, iid, "cancelled")


async def test_cancel_token_is_checked_before_the_instance_is_looked_up(
    kit: Any, edda_app: EddaApp, client: httpx.AsyncClient
) -> None:
    async with kit.serve(create_asgi_app(edda_app, cancel_token="s3cret")) as url:
        response = await client.post(f"{url}/cancel/does-not-exist")
    assert response.status_code == 401  # not 404: no probing for instance ids


@pytest.mark.parametrize("is_async", [False, True])
async def test_cancel_authorizer(kit: Any, edda_app: EddaApp, client: httpx.AsyncClient, is_async: bool) -> None:
    seen: list[str] = []

    def decide(scope: dict[str, Any]) -> bool:
        seen.append(scope["path"])
        return dict(scope["headers"]).get(b"x-role") == b"admin"

    async def decide_async(scope: dict[str, Any]) -> bool:
        return decide(scope)

    app = create_asgi_app(edda_app, cancel_authorizer=decide_async if is_async else decide)
    async with kit.serve(app) as url:
        iid = await cancellable_order.start(order_id="A")
        await kit.wait_status(edda_app, iid)
        denied = await client.post(f"{url}/cancel/{iid}", headers={"x-role": "guest"})
        assert denied.status_code == 403 and denied.json()["error_type"] == "Forbidden"
        assert await kit.status_of(edda_app, iid) == "waiting_for_event"
        allowed = await client.post(f"{url}/cancel/{iid}", headers={"x-role": "admin"})
        assert allowed.status_code == 202
        await kit.wait_status(edda_app, iid, "cancelled")
    assert seen == [f"/cancel/{iid}"] * 2


async def test_token_and_authorizer_together(kit: Any, edda_app: EddaApp, client: httpx.AsyncClient) -> None:
    app = create_asgi_app(edda_app, cancel_token="t", cancel_authorizer=lambda scope: False)
    async with kit.serve(app) as url:
        assert (await client.post(f"{url}/cancel/x")).status_code == 401
        assert (await client.post(f"{url}/cancel/x", headers={"authorization": "Bearer t"})).status_code == 403


async def test_failing_authorizer_is_500_and_cancels_nothing(
    kit: Any, edda_app: EddaApp, client: httpx.AsyncClient, caplog: Any
) -> None:
    def broken(scope: dict[str, Any]) -> bool:
        raise KeyError("policy store down")

    async with kit.serve(create_asgi_app(edda_app, cancel_authorizer=broken)) as url:
        iid = await cancellable_order.start(order_id="B")
        await kit.wait_status(edda_app, iid)
        response = await client.post(f"{url}/cancel/{iid}")
        assert response.status_code == 500 and response.json()["retryable"] is True
        assert await kit.status_of(edda_app, iid) == "waiting_for_event"
    assert "cancel_authorizer failed" in caplog.text
