"""The EddaMCPServer object itself, in this process: declaring tools and prompts, bad input, token verifiers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx2
import pytest
from cloudevents.core.bindings.http import to_structured_event
from cloudevents.core.v1.event import CloudEvent
from edda_mcp_testkit import serve_here
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings

import edda_mcp
from edda import EddaApp, Workflow, WorkflowContext, activity, wait_event, workflow
from edda.exceptions import ConfigurationError
from edda_mcp import EddaMCPServer, PredicateTokenVerifier


def _server(tmp_path: Path, **options: Any) -> EddaMCPServer:
    return EddaMCPServer("api-test", f"sqlite:///{tmp_path / 'api.db'}", **options)


def test_the_seed_import_path_is_the_same_class() -> None:
    from edda.integrations.mcp import EddaMCPServer as Seeded

    assert Seeded is edda_mcp.EddaMCPServer


@activity
async def mcpapi_double(ctx: WorkflowContext, n: int) -> int:
    return 2 * n


async def test_durable_tool_returns_the_workflow_and_wraps_an_app(tmp_path: Path) -> None:
    server = _server(tmp_path)

    @server.durable_tool(description="Double a number.")
    async def mcpapi_doubler(ctx: WorkflowContext, n: int, *rest: Any, **extra: Any) -> int:
        return await mcpapi_double(ctx, n)

    assert isinstance(mcpapi_doubler, Workflow) and server.workflows == {"mcpapi_doubler": mcpapi_doubler}
    assert isinstance(server.app, EddaApp) and server.app.service_name == "api-test"
    tools = {tool.name: tool for tool in await server.mcp.list_tools()}
    assert set(tools) == {"mcpapi_doubler", "mcpapi_doubler_status", "mcpapi_doubler_result", "mcpapi_doubler_cancel"}
    assert set(tools["mcpapi_doubler"].input_schema["properties"]) == {"n"}  # no ctx, no *rest / **extra
    await server.initialize()
    try:
        # The durable tool is an ordinary workflow too: started from Python, read through the server's storage.
        instance_id = await mcpapi_doubler.start(n=21)
        assert await server.app.wait_for_result(instance_id, timeout=30) == 42
        record = await server.storage.get_instance(instance_id)
        assert record is not None and record["status"] == "completed"
        answer = await server.mcp.call_tool("mcpapi_doubler_result", {"instance_id": instance_id})
        assert getattr(answer, "structured_content", None) == {
            "instance_id": instance_id,
            "workflow": "mcpapi_doubler",
            "status": "completed",
            "result": 42,
        }
    finally:
        await server.shutdown()


def test_durable_tool_accepts_an_existing_workflow_and_the_bare_decorator(tmp_path: Path) -> None:
    server = _server(tmp_path)

    @workflow
    async def mcpapi_existing(ctx: WorkflowContext) -> None:
        """Docstring as description."""

    assert server.durable_tool(mcpapi_existing) is mcpapi_existing

    @server.durable_tool
    async def mcpapi_bare(ctx: WorkflowContext) -> None:
        pass

    assert set(server.workflows) == {"mcpapi_existing", "mcpapi_bare"}


def test_a_tool_name_taken_twice_is_refused(tmp_path: Path) -> None:
    server = _server(tmp_path)

    @server.durable_tool
    async def mcpapi_trip(ctx: WorkflowContext) -> None:
        pass

    with pytest.raises(ConfigurationError, match=r"mcpapi_trip_status.*rename the workflow function"):

        @server.durable_tool
        async def mcpapi_trip_status(ctx: WorkflowContext) -> None:
            pass


def test_a_durable_tool_must_be_a_workflow_function(tmp_path: Path) -> None:
    server = _server(tmp_path)
    with pytest.raises(ConfigurationError, match="async function"):

        @server.durable_tool
        def mcpapi_sync(ctx: WorkflowContext) -> None:
            pass


async def test_prompt_is_passed_to_the_sdk(tmp_path: Path) -> None:
    server = _server(tmp_path)

    async def mcpapi_prompt(instance_id: str) -> str:
        return f"about {instance_id}"

    assert server.prompt(description="Say something.")(mcpapi_prompt) is mcpapi_prompt
    (listed,) = await server.mcp.list_prompts()
    assert listed.name == "mcpapi_prompt" and listed.description == "Say something."
    rendered = await server.mcp.get_prompt("mcpapi_prompt", {"instance_id": "i-1"})
    assert rendered.messages[0].content.text == "about i-1"  # type: ignore[union-attr]


def test_bad_construction_is_explained(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="non-empty name"):
        EddaMCPServer("  ", "sqlite:///x.db")
    with pytest.raises(ValueError, match="needs a token_verifier"):
        _server(tmp_path, auth=AuthSettings(issuer_url="https://auth.example.com", resource_server_url=None))
    with pytest.raises(TypeError, match="token_verifier must be an MCP TokenVerifier"):
        _server(tmp_path, token_verifier="s3cret")
    with pytest.raises(ValueError, match="path must look like '/mcp'"):
        _server(tmp_path).asgi_app(path="mcp/")


async def test_predicate_token_verifier() -> None:
    sync = PredicateTokenVerifier(lambda token: token == "good", client_id="c", scopes=["read"])
    accepted = await sync.verify_token("good")
    assert isinstance(accepted, AccessToken) and accepted.client_id == "c" and accepted.scopes == ["read"]
    assert await sync.verify_token("bad") is None

    async def check(token: str) -> bool:
        return token.startswith("ok-")

    asynchronous = PredicateTokenVerifier(check)
    assert await asynchronous.verify_token("ok-1") is not None
    assert await asynchronous.verify_token("no") is None
    truthy = PredicateTokenVerifier(lambda token: "yes")  # type: ignore[arg-type, return-value]
    assert await truthy.verify_token("anything") is None  # only True accepts
    with pytest.raises(TypeError, match="check must be a callable"):
        PredicateTokenVerifier("token")  # type: ignore[arg-type]


@workflow
async def mcpapi_wait_for_go(ctx: WorkflowContext) -> Any:
    return (await wait_event(ctx, "mcpapi.go")).data


async def test_authenticate_events_false_lets_cloudevents_in_without_a_token(tmp_path: Path) -> None:
    server = _server(tmp_path, token_verifier=lambda token: token == "right")
    server.durable_tool(mcpapi_wait_for_go)
    async with serve_here(server.asgi_app(authenticate_events=False)) as url:
        instance_id = await mcpapi_wait_for_go.start()
        message = to_structured_event(
            CloudEvent({"type": "mcpapi.go", "source": "tests", "id": "go-1", "eddainstanceid": instance_id}, {"n": 1})
        )
        async with httpx2.AsyncClient() as client:
            mcp_call = await client.post(url + "/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
            cancel = await client.post(f"{url}/cancel/{instance_id}")
            event = await client.post(url + "/", headers=dict(message.headers), content=message.body)
        assert mcp_call.status_code == 401 and cancel.status_code == 401  # still guarded
        assert event.status_code == 202, event.text  # the broker needs no token
        assert await server.app.wait_for_result(instance_id, timeout=30) == {"n": 1}


class ScopedTokens:
    """An SDK TokenVerifier: ``reader`` may read orders, ``guest`` has no scope, anything else is refused."""

    async def verify_token(self, token: str) -> AccessToken | None:
        scopes = {"reader": ["orders"], "guest": []}.get(token)
        return None if scopes is None else AccessToken(token=token, client_id=token, scopes=scopes)


async def test_an_sdk_token_verifier_with_auth_settings_makes_an_oauth_resource_server(tmp_path: Path) -> None:
    auth = AuthSettings(
        issuer_url="https://auth.example.com",
        resource_server_url="https://orders.example.com/mcp",
        required_scopes=["orders"],
        validate_token_resource=False,
    )
    server = _server(tmp_path, token_verifier=ScopedTokens(), auth=auth)
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    async with serve_here(server.asgi_app()) as url, httpx2.AsyncClient() as client:
        anonymous = await client.post(url + "/mcp", headers=headers, json=ping)
        guest = await client.post(url + "/mcp", headers={**headers, "Authorization": "Bearer guest"}, json=ping)
        reader = await client.post(url + "/mcp", headers={**headers, "Authorization": "Bearer reader"}, json=ping)
        metadata = await client.get(url + "/.well-known/oauth-protected-resource/mcp")
    assert anonymous.status_code == 401
    assert (
        'resource_metadata="https://orders.example.com/.well-known/oauth-protected-resource/mcp"'
        in (anonymous.headers["www-authenticate"])
    )
    assert guest.status_code == 403 and guest.json()["error"] == "insufficient_scope"
    assert reader.status_code == 200, reader.text
    assert metadata.status_code == 200  # public, as OAuth clients need it before they have a token
    assert metadata.json()["resource"] == "https://orders.example.com/mcp"
    assert metadata.json()["authorization_servers"] == ["https://auth.example.com"]
