"""The four MCP tools of one durable tool: start, ``_status``, ``_result`` and ``_cancel``.

The start tool's input schema is the workflow's signature without its ``WorkflowContext``, with the type hints the
workflow declares (pydantic models included, nested ones as ``$defs``): the MCP SDK builds the schema from it,
validates and coerces the arguments, and hands the workflow model instances.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp_types import CallToolResult
from pydantic import Field

from edda import EddaApp, Workflow
from edda.exceptions import InvalidInputError, WorkflowNotFoundError, WorkflowStateError
from edda_mcp._progress import Progress, read_progress
from edda_mcp._replies import ToolNames, cancel_reply, error_reply, result_reply, started_reply, status_reply

__all__ = ["DurableTool", "InstanceId"]

InstanceId = Annotated[
    str, Field(min_length=1, max_length=255, description="The Instance ID returned when the workflow was started.")
]

_VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


class DurableTool:
    """A workflow exposed as four MCP tools.

    Args:
        workflow: the registered workflow.
        description: what the workflow does (the start tool's description begins with it).
        app: the EddaApp that runs it.
        ready: awaited before each call (initializes the app on first use).
    """

    def __init__(
        self, workflow: Workflow, description: str, *, app: EddaApp, ready: Callable[[], Awaitable[None]]
    ) -> None:
        self.workflow = workflow
        self.names = ToolNames(workflow.name)
        self.description = description
        self._app = app
        self._ready = ready

    # -- registration ---------------------------------------------------------------------------------------

    def register(self, mcp: MCPServer[Any]) -> None:
        """Add the four tools to ``mcp``."""
        names, wf = self.names, self.workflow.name
        intro = self.description.strip() or f"Run the durable workflow '{wf}'."
        start_text = (
            f"{intro}\n\nStarts the durable workflow '{wf}' and returns its Instance ID at once; the workflow keeps "
            f"running (and survives restarts). Follow it with {names.status}, get its result with {names.result}, "
            f"cancel it with {names.cancel}."
        )
        mcp.add_tool(self._start_function(), name=names.start, description=start_text, structured_output=False)
        mcp.add_tool(
            self.status,
            name=names.status,
            description=f"Check the progress of a '{wf}' workflow instance: status, current activity, completed "
            f"activities and a suggested poll interval.",
            structured_output=False,
        )
        mcp.add_tool(
            self.result,
            name=names.result,
            description=f"Get the result of a completed '{wf}' workflow instance (an error while it is still "
            f"running, or if it failed or was cancelled).",
            structured_output=False,
        )
        mcp.add_tool(
            self.cancel,
            name=names.cancel,
            description=f"Cancel a running or waiting '{wf}' workflow instance; the compensations of its "
            f"completed activities run.",
            structured_output=False,
        )

    def _start_function(self) -> Callable[..., Awaitable[CallToolResult]]:
        """A function whose signature is the workflow's, minus the context: the SDK derives the schema from it."""

        async def start(**arguments: Any) -> CallToolResult:
            return await self.start(arguments)

        hints = self.workflow.hints
        params: list[inspect.Parameter] = []
        annotations: dict[str, Any] = {}
        for param in self.workflow.params:
            if param.kind in _VARIADIC:
                continue
            hint = hints.get(param.name, inspect.Parameter.empty)
            params.append(
                inspect.Parameter(param.name, inspect.Parameter.KEYWORD_ONLY, default=param.default, annotation=hint)
            )
            if hint is not inspect.Parameter.empty:
                annotations[param.name] = hint
        start.__signature__ = inspect.Signature(params, return_annotation=CallToolResult)  # type: ignore[attr-defined]
        start.__annotations__ = {**annotations, "return": CallToolResult}
        start.__name__ = start.__qualname__ = self.workflow.name
        start.__doc__ = self.description or None
        return start

    # -- the tools --------------------------------------------------------------------------------------------

    async def start(self, arguments: dict[str, Any]) -> CallToolResult:
        """Start an instance with ``arguments`` (already validated by the SDK against the schema)."""
        await self._ready()
        try:
            instance_id = await self._app.start_workflow(self.workflow, arguments)
        except InvalidInputError as exc:
            return error_reply(f"Could not start '{self.workflow.name}': {exc}")
        return started_reply(self.names, instance_id)

    async def status(self, instance_id: InstanceId) -> CallToolResult:
        """Progress of an instance."""
        progress = await self._load(instance_id)
        if isinstance(progress, CallToolResult):
            return progress
        return status_reply(self.names, progress)

    async def result(self, instance_id: InstanceId) -> CallToolResult:
        """Result of a completed instance (an error otherwise)."""
        progress = await self._load(instance_id)
        if isinstance(progress, CallToolResult):
            return progress
        return result_reply(self.names, progress)

    async def cancel(self, instance_id: InstanceId) -> CallToolResult:
        """Cancel an instance; its compensations run."""
        progress = await self._load(instance_id)
        if isinstance(progress, CallToolResult):
            return progress
        if progress.finished:
            return error_reply(
                f"Workflow instance '{instance_id}' already finished with status '{progress.status}'; only running "
                f"or waiting instances can be cancelled."
            )
        try:
            await self._app.cancel_workflow(instance_id)
        except (WorkflowStateError, WorkflowNotFoundError) as exc:  # it finished (or vanished) in the meantime
            return error_reply(str(exc))
        after = await read_progress(self._app.storage, instance_id)
        return cancel_reply(self.names, after or progress)

    async def _load(self, instance_id: str) -> Progress | CallToolResult:
        await self._ready()
        progress = await read_progress(self._app.storage, instance_id)
        if progress is None:
            return error_reply(
                f"No workflow instance '{instance_id}' found. Use the Instance ID that {self.names.start} returned."
            )
        if progress.workflow_name != self.workflow.name:
            return error_reply(
                f"Instance '{instance_id}' belongs to workflow '{progress.workflow_name}', not '{self.workflow.name}'; "
                f"{self.names.status}, {self.names.result} and {self.names.cancel} only handle "
                f"'{self.workflow.name}' instances."
            )
        return progress
