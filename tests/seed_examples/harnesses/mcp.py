"""MCP: the example's ``EddaMCPServer`` is served by uvicorn on loopback (its ``asgi_app()``, as the example's
``__main__`` block would) and driven by the MCP SDK's own client over streamable HTTP: the durable tool's four
tools, a run from start to result, and the prompt that reads the instance's state.

The prompt example (001_37) imports ``UserMessage`` from ``mcp.server.fastmcp.prompts.base``: the seed was written
for the MCP SDK 1.x. In the 2.x SDK that this workspace uses, ``FastMCP`` became ``MCPServer`` and the module moved to
``mcp.server.mcpserver.prompts.base`` (``mcp.server.fastmcp`` now only raises ``ModuleNotFoundError`` pointing at the
SDK's migration guide). :func:`v1_prompt_module_path` maps the 1.x path to that same module for the run, so the
seed's text runs unedited; docs/mcp.md shows the 2.x import.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sys
import types
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

from tests.seed_examples.harnesses._registry import registry
from tests.seed_examples.harnesses._support import Run, execute
from tests.seed_examples.harnesses.standins import serve

SCENARIOS, scenario = registry()
HERE = Path(__file__).resolve().parents[1]
TOOLS = ("process_order", "process_order_status", "process_order_result", "process_order_cancel")


def v1_prompt_module_path() -> None:
    """Make ``mcp.server.fastmcp.prompts.base`` (MCP SDK 1.x) name the 2.x module ``mcp.server.mcpserver.prompts.base``
    in this process (see the module docstring)."""
    import mcp.server.mcpserver.prompts as prompts
    import mcp.server.mcpserver.prompts.base as base

    fastmcp = types.ModuleType("mcp.server.fastmcp", "MCP SDK 1.x path of mcp.server.mcpserver (seed harness only)")
    fastmcp.__path__ = []
    fastmcp.prompts = prompts  # type: ignore[attr-defined]
    sys.modules.update(
        {"mcp.server.fastmcp": fastmcp, "mcp.server.fastmcp.prompts": prompts, "mcp.server.fastmcp.prompts.base": base}
    )


def _example_path(example_id: str) -> Path:
    manifest = json.loads((HERE / "manifest.json").read_text(encoding="utf-8"))
    return HERE / next(e["file"] for e in manifest["examples"] if e["id"] == example_id)


@contextlib.asynccontextmanager
async def mcp_session(url: str) -> AsyncIterator[ClientSession]:
    async with streamable_http_client(url) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


def _text(result: Any) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


async def _run_order(session: ClientSession, order_id: str) -> str:
    """Start ``process_order`` through its tool, poll its status tool until it completes; returns the instance id."""
    started = await session.call_tool("process_order", {"order_id": order_id})
    assert not started.is_error, _text(started)
    found = re.search(r"^Instance ID: (\S+)$", _text(started), re.M)
    assert found, _text(started)
    instance_id = found.group(1)
    for _ in range(600):
        status = await session.call_tool("process_order_status", {"instance_id": instance_id})
        assert not status.is_error, _text(status)
        if "Workflow Status: completed" in _text(status):
            assert "Completed Activities: 1" in _text(status), _text(status)
            return instance_id
        assert "Workflow Status: failed" not in _text(status), _text(status)
        await asyncio.sleep(0.05)
    raise AssertionError(f"process_order {instance_id} did not complete: {_text(status)}")


@scenario("001_36_process_payment")
async def durable_tool(run: Run) -> None:
    module = await execute(run)
    server = module.server
    async with serve(server.asgi_app(), lifespan="on") as url, mcp_session(url + "/mcp") as session:
        names = {tool.name for tool in (await session.list_tools()).tools}
        assert set(TOOLS) <= names, sorted(names)
        instance_id = await _run_order(session, "ORD-1")
        result = await session.call_tool("process_order_result", {"instance_id": instance_id})
        assert not result.is_error, _text(result)
        assert result.structured_content is not None
        assert result.structured_content["result"] == {"status": "completed", "order_id": "ORD-1"}
        history = await server.storage.get_history(instance_id)
        payments = [e for e in history if e["activity_id"].startswith("process_payment:")]
        assert [e["event_type"] for e in payments] == ["ActivityCompleted"], [dict(e) for e in history]
    run.ok(f"the four tools {', '.join(TOOLS)} are listed")
    run.ok(f"process_order ran through its tools: {_text(result)!r}")


@scenario("001_37_analyze_workflow")
async def prompt(run: Run) -> None:
    server = (
        await execute(Run(run.example_id, _example_path("001_36_process_payment"), run.backend, run.db_url))
    ).server
    v1_prompt_module_path()
    module = await execute(run, {"server": server}, name="seed_prompt_example")
    async with serve(server.asgi_app(), lifespan="on") as url, mcp_session(url + "/mcp") as session:
        listed = {p.name: p for p in (await session.list_prompts()).prompts}
        assert [a.name for a in listed["analyze_workflow"].arguments or []] == ["instance_id"], listed
        assert listed["analyze_workflow"].description == "Analyze a workflow execution"
        instance_id = await _run_order(session, "ORD-7")
        rendered = await session.get_prompt("analyze_workflow", {"instance_id": instance_id})
        instance = await server.storage.get_instance(instance_id)
        history = await server.storage.get_history(instance_id)
    (message,) = rendered.messages
    text = message.content.text  # type: ignore[union-attr]
    assert message.role == "user", message
    assert "**Status**: completed" in text, text
    assert f"**Activities**: {len(history)}" in text, text
    assert f"**Result**: {instance.get('output_data')}" in text and "ORD-7" in text, text
    assert callable(module.analyze_workflow)
    run.ok(f"the prompt read the instance's state: {text.splitlines()[1:4]}")
