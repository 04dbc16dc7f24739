"""MCP tasks (protocol revision 2025-11-25) for durable tools, with the task status read from the workflow's history.

What the installed SDK offers (``mcp`` 2.3): the 2025-11-25 task types (``Task``, ``CreateTaskResult``,
``tasks/get|result|cancel|list``, ``ToolExecution.task_support``, ``ServerCapabilities.tasks``) are *types only*;
the SDK dispatches none of the ``tasks/*`` methods and validates a ``tools/call`` answer as a ``CallToolResult``. In
2026-07-28 tasks left the core protocol for an extension that the SDK does not implement. So this module adds, for
connections that negotiated 2025-11-25:

* ``capabilities.tasks`` (``cancel`` and ``requests.tools.call``) in the ``initialize`` answer, and
  ``execution.taskSupport = "optional"`` on each durable tool's start tool;
* a task-augmented ``tools/call`` of a start tool (``params.task``) answers with a ``CreateTaskResult`` whose task id
  is the workflow's instance id. The answer also keeps the start tool's ``content``, so it is a valid
  ``CallToolResult`` too (the SDK's own client validates it as one before reading it as a ``CreateTaskResult``);
* ``tasks/get`` (status from the stored instance and its history), ``tasks/result`` (blocks until the workflow
  finishes, then answers the ``CallToolResult`` of ``X_result``) and ``tasks/cancel`` (cancels the workflow: its
  compensations run).

``tasks/list`` is not offered: it would list every instance of the server's durable tools to any client.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError
from mcp_types import (
    INVALID_PARAMS,
    METHOD_NOT_FOUND,
    CancelTaskRequestParams,
    GetTaskPayloadRequestParams,
    GetTaskRequestParams,
    ToolExecution,
)
from mcp_types import Tool as MCPTool
from pydantic import BaseModel

from edda import EddaApp
from edda.exceptions import WorkflowCancelledException, WorkflowFailedError, WorkflowStateError
from edda_mcp._progress import Progress, read_progress
from edda_mcp._replies import result_reply
from edda_mcp._tools import DurableTool

__all__ = ["RELATED_TASK_META", "TASK_PROTOCOL_VERSIONS", "TASKS_CAPABILITY", "DurableMCPServer", "TaskSupport"]

TASK_PROTOCOL_VERSIONS = frozenset({"2025-11-25"})
"""Protocol revisions whose core protocol has tasks."""
TASKS_CAPABILITY: Mapping[str, Any] = {"cancel": {}, "requests": {"tools": {"call": {}}}}
"""``capabilities.tasks`` as advertised: ``tasks/cancel`` and task-augmented ``tools/call`` (no ``tasks/list``)."""
RELATED_TASK_META = "io.modelcontextprotocol/related-task"


def _as_dict(result: HandlerResult) -> dict[str, Any]:
    if isinstance(result, BaseModel):
        return result.model_dump(by_alias=True, mode="json", exclude_none=True)
    return dict(result or {})


class TaskSupport:
    """Task-augmented calls of durable tools and the ``tasks/*`` methods.

    Args:
        app: the EddaApp running the workflows.
        tools: the durable tools by start-tool name (read at call time, so tools added later count).
        ready: awaited before touching the app (initializes it on first use).
    """

    def __init__(self, app: EddaApp, tools: Mapping[str, DurableTool], ready: Callable[[], Any]) -> None:
        self._app = app
        self._tools = tools
        self._ready = ready

    def install(self, server: MCPServer[Any], add_handler: Callable[[str, type[BaseModel], Any], None]) -> None:
        """Add the middleware to ``server`` and register the ``tasks/*`` handlers through ``add_handler``."""
        server.middleware.append(self.middleware)
        add_handler("tasks/get", GetTaskRequestParams, self._guarded(self.get))
        add_handler("tasks/result", GetTaskPayloadRequestParams, self._guarded(self.result))
        add_handler("tasks/cancel", CancelTaskRequestParams, self._guarded(self.cancel))

    def is_start_tool(self, name: str) -> bool:
        return name in self._tools

    # -- the middleware: capabilities in `initialize`, task-augmented `tools/call` ----------------------------

    async def middleware(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        """Advertise tasks at ``initialize``; answer a task-augmented ``tools/call`` of a start tool with a task."""
        if ctx.method == "initialize":
            answer = _as_dict(await call_next(ctx))
            if answer.get("protocolVersion") in TASK_PROTOCOL_VERSIONS:
                tasks = copy.deepcopy(dict(TASKS_CAPABILITY))
                answer["capabilities"] = {**dict(answer.get("capabilities") or {}), "tasks": tasks}
            return answer
        params: Mapping[str, Any] = ctx.params if isinstance(ctx.params, Mapping) else {}
        augmented = ctx.method == "tools/call" and params.get("task") is not None  # `"task": {}` asks for a task too
        if not augmented or ctx.protocol_version not in TASK_PROTOCOL_VERSIONS:
            return await call_next(ctx)
        name = str(params.get("name"))
        if not self.is_start_tool(name):
            raise _rpc_error(
                METHOD_NOT_FOUND,
                f"Tool '{name}' does not support task-augmented execution; only the start tools of durable tools "
                f"do ({', '.join(sorted(self._tools)) or 'none'}).",
            )
        answer = _as_dict(await call_next(ctx))
        structured = answer.get("structuredContent")
        if answer.get("isError") or not isinstance(structured, Mapping) or "instance_id" not in structured:
            text = " ".join(str(c.get("text", "")) for c in answer.get("content") or [] if isinstance(c, Mapping))
            raise _rpc_error(INVALID_PARAMS, text or f"Tool '{name}' did not start a workflow")
        progress = await read_progress(self._app.storage, str(structured["instance_id"]))
        if progress is None:  # pragma: no cover - the instance was created by this very call
            raise _rpc_error(INVALID_PARAMS, f"Tool '{name}' started no instance")
        return {**answer, "task": progress.task()}

    # -- tasks/* ---------------------------------------------------------------------------------------------------

    def _guarded(self, handler: Callable[[str], Any]) -> Callable[[ServerRequestContext[Any, Any], Any], Any]:
        async def handle(ctx: ServerRequestContext[Any, Any], params: Any) -> HandlerResult:
            if ctx.protocol_version not in TASK_PROTOCOL_VERSIONS:
                raise _rpc_error(
                    METHOD_NOT_FOUND,
                    f"{ctx.method} is part of MCP {', '.join(sorted(TASK_PROTOCOL_VERSIONS))} only; this connection "
                    f"speaks {ctx.protocol_version}",
                )
            await self._ready()
            return await handler(str(params.task_id))

        return handle

    async def _task(self, task_id: str) -> Progress:
        progress = await read_progress(self._app.storage, task_id)
        if progress is None or progress.workflow_name not in self._tools:
            raise _rpc_error(INVALID_PARAMS, f"Task '{task_id}' not found (task ids are durable tool instance ids)")
        return progress

    async def get(self, task_id: str) -> dict[str, Any]:
        """``tasks/get``: the task, its status read from the workflow's record and history."""
        return (await self._task(task_id)).task()

    async def result(self, task_id: str) -> dict[str, Any]:
        """``tasks/result``: wait until the workflow finishes, then the ``CallToolResult`` of its ``_result`` tool."""
        progress = await self._task(task_id)
        if not progress.finished:
            try:
                await self._app.wait_for_result(task_id)
            except (WorkflowFailedError, WorkflowCancelledException):
                pass  # the answer below says so
            progress = await self._task(task_id)
        answer = _as_dict(result_reply(self._tools[progress.workflow_name].names, progress))
        answer["_meta"] = {**dict(answer.get("_meta") or {}), RELATED_TASK_META: {"taskId": task_id}}
        return answer

    async def cancel(self, task_id: str) -> dict[str, Any]:
        """``tasks/cancel``: cancel the workflow (its compensations run); an error if it already finished."""
        progress = await self._task(task_id)
        refusal = f"Cannot cancel task '{task_id}': it already reached the terminal status '{progress.task_status}'"
        if progress.finished:
            raise _rpc_error(INVALID_PARAMS, refusal)
        try:
            await self._app.cancel_workflow(task_id)
        except WorkflowStateError:
            raise _rpc_error(INVALID_PARAMS, refusal) from None
        return (await self._task(task_id)).task()


def _rpc_error(code: int, message: str) -> MCPError:
    return MCPError(code=code, message=message)


class DurableMCPServer(MCPServer[Any]):
    """The SDK's ``MCPServer`` that also marks durable start tools ``execution.taskSupport = "optional"`` and serves
    tasks (see the module docstring)."""

    def __init__(self, name: str, tasks: TaskSupport, **options: Any) -> None:
        super().__init__(name, **options)
        self._edda_tasks = tasks
        tasks.install(self, self._lowlevel_server.add_request_handler)

    async def list_tools(self) -> list[MCPTool]:
        tools = await super().list_tools()
        optional = ToolExecution(task_support="optional")
        return [
            tool.model_copy(update={"execution": optional}) if self._edda_tasks.is_start_tool(tool.name) else tool
            for tool in tools
        ]
