"""MCP tasks (protocol 2025-11-25): a durable tool called with ``params.task`` becomes a task whose id is the
workflow's instance id and whose status comes from the workflow's record and history."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import mcp_types as types
import pytest
from edda_mcp_testkit import HttpServer, http_server, http_session, instance_id_in, make_files, text_of, wait_for
from mcp.client.session import ClientSession
from mcp.shared.exceptions import MCPError
from pydantic import TypeAdapter

RELATED_TASK = "io.modelcontextprotocol/related-task"
ORDER = {
    "customer": {"name": "Tia", "address": {"street": "2 Side St", "city": "Bergen"}},
    "lines": [{"sku": "T", "quantity": 1}],
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpServer]:
    with http_server(make_files(tmp_path_factory.mktemp("mcp-tasks"))) as running:
        yield running


async def _call_as_task(
    session: ClientSession, name: str, arguments: dict[str, Any], *, ttl: int | None = None
) -> types.CreateTaskResult:
    params = types.CallToolRequestParams(name=name, arguments=arguments, task=types.TaskMetadata(ttl=ttl))
    return await session.send_request(types.CallToolRequest(params=params), types.CreateTaskResult)


async def _get(session: ClientSession, task_id: str) -> types.GetTaskResult:
    request = types.GetTaskRequest(params=types.GetTaskRequestParams(task_id=task_id))
    return await session.send_request(request, types.GetTaskResult)


async def _result(session: ClientSession, task_id: str) -> types.CallToolResult:
    request = types.GetTaskPayloadRequest(params=types.GetTaskPayloadRequestParams(task_id=task_id))
    return await session.send_request(request, types.CallToolResult)


async def _cancel(session: ClientSession, task_id: str) -> types.CancelTaskResult:
    request = types.CancelTaskRequest(params=types.CancelTaskRequestParams(task_id=task_id))
    return await session.send_request(request, types.CancelTaskResult)


async def test_tasks_are_advertised_and_start_tools_support_them(server: HttpServer) -> None:
    async with http_session(server.mcp_url) as session:
        capabilities = session.server_capabilities
        tools = (await session.list_tools()).tools
    assert capabilities is not None and capabilities.tasks is not None
    assert capabilities.tasks.cancel is not None
    assert capabilities.tasks.requests is not None and capabilities.tasks.requests.tools is not None
    assert capabilities.tasks.requests.tools.call is not None
    assert capabilities.tasks.list is None  # not offered: it would list every instance to any client
    supported = {tool.name for tool in tools if tool.execution and tool.execution.task_support == "optional"}
    assert supported == {"place_order", "book_trip", "pipeline"}


async def test_a_task_augmented_call_creates_a_task_whose_status_and_result_come_from_the_workflow(
    server: HttpServer,
) -> None:
    async with http_session(server.mcp_url) as session:
        created = await _call_as_task(session, "place_order", ORDER, ttl=60_000)
        task_id = created.task.task_id
        assert created.task.status in ("working", "completed")
        assert created.task.ttl is None and created.task.poll_interval in (5000, 10000)

        async def completed() -> types.GetTaskResult | None:
            task = await _get(session, task_id)
            return task if task.status == "completed" else None

        task = await wait_for(completed, "the task to complete")
        result = await _result(session, task_id)
        status = await session.call_tool("place_order_status", {"instance_id": task_id})
    assert task.status_message is not None and task.status_message.startswith("completed; 1 activity completed")
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None and result.structured_content["result"]["city"] == "Bergen"
    assert result.meta is not None and result.meta[RELATED_TASK] == {"taskId": task_id}
    assert not status.is_error  # the task id is the instance id the durable tools know


async def test_the_created_task_answer_is_also_the_start_tools_result(server: HttpServer) -> None:
    async with http_session(server.mcp_url) as session:
        params = types.CallToolRequestParams(name="place_order", arguments=ORDER, task=types.TaskMetadata())
        request = types.CallToolRequest(params=params)  # `"task": {}` on the wire: a task without a requested ttl
        raw = await session.send_request(request, TypeAdapter(dict[str, Any]))
    as_task = types.CreateTaskResult.model_validate(raw)
    as_call = types.CallToolResult.model_validate(raw)
    # "Instance ID: ..." for clients that read a plain tool result, and that id is the task's id.
    assert instance_id_in(as_call) == as_task.task.task_id


async def test_tasks_result_waits_for_the_workflow_to_finish(server: HttpServer) -> None:
    async with http_session(server.mcp_url) as session:
        task_id = (await _call_as_task(session, "pipeline", {"job": "as-task"})).task.task_id
        await wait_for(lambda: "two-start as-task" in server.files.effects_lines(), "the second step to start")
        pending = asyncio.ensure_future(_result(session, task_id))
        working = await _get(session, task_id)
        assert working.status == "working", working
        assert working.status_message is not None and "1 activity completed" in working.status_message
        assert not pending.done()
        server.files.gate.touch()  # the second step may finish now
        result = await pending
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    assert result.structured_content["result"] == {"steps": ["as-task-1", "as-task-2", "as-task-3"]}


async def test_tasks_cancel_cancels_the_workflow_and_runs_its_compensation(server: HttpServer) -> None:
    async with http_session(server.mcp_url) as session:
        task_id = (await _call_as_task(session, "book_trip", {"hotel": "Task Tower"})).task.task_id
        await wait_for(lambda: "reserve Task Tower" in server.files.effects_lines(), "the reservation")

        async def waiting() -> bool:
            message = (await _get(session, task_id)).status_message or ""
            return "waiting for event 'trip.approved'" in message

        await wait_for(waiting, "the workflow to wait for its event")
        cancelled = await _cancel(session, task_id)
        with pytest.raises(MCPError) as again:
            await _cancel(session, task_id)
        result = await _result(session, task_id)
    assert cancelled.status == "cancelled" and cancelled.task_id == task_id
    assert server.files.effects_lines().count("release Task Tower") == 1
    assert again.value.error.code == types.INVALID_PARAMS and "terminal status 'cancelled'" in again.value.error.message
    assert result.is_error and "cancelled" in text_of(result)


async def test_task_errors(server: HttpServer) -> None:
    async with http_session(server.mcp_url) as session:
        with pytest.raises(MCPError) as unknown:
            await _get(session, "no-such-task")
        with pytest.raises(MCPError) as not_a_start_tool:
            await _call_as_task(session, "place_order_status", {"instance_id": "x"})
        with pytest.raises(MCPError) as bad_arguments:
            await _call_as_task(session, "place_order", {"lines": []})
    assert unknown.value.error.code == types.INVALID_PARAMS and "not found" in unknown.value.error.message
    assert not_a_start_tool.value.error.code == types.METHOD_NOT_FOUND
    assert "does not support task-augmented execution" in not_a_start_tool.value.error.message
    assert bad_arguments.value.error.code == types.INVALID_PARAMS and "customer" in bad_arguments.value.error.message
