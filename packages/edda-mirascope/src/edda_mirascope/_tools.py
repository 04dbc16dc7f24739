"""Running the tools a model asks for, each as a durable step (a tool call is made once, then replayed)."""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from mirascope import llm
from mirascope.llm.tools import ToolSchema

from edda import Activity, WorkflowContext

__all__ = ["ToolExecutor", "run_tool", "runnable_tools"]

ToolExecutor = Callable[[str, dict[str, Any]], Any]
"""``executor(tool_name, args)`` returning the tool's JSON result (or an awaitable of it)."""


def runnable_tools(tools: Sequence[Any], schemas: Sequence[Any]) -> dict[str, Any]:
    """Tool name -> what runs it: the ``@activity`` itself, or the Mirascope tool (provider tools run remotely)."""
    runnable: dict[str, Any] = {}
    for tool, schema in zip(tools, schemas, strict=True):
        if isinstance(tool, Activity):
            runnable[schema.name] = tool
        elif isinstance(schema, ToolSchema):
            runnable[schema.name] = schema
    return runnable


async def run_tool(
    ctx: WorkflowContext,
    call: Mapping[str, Any],
    *,
    tools: Mapping[str, Any],
    executor: ToolExecutor | None,
    deps: Any,
    step_prefix: str,
) -> Any:
    """Run one tool call as a durable step and return its result (what the model will be shown).

    With an ``executor``, it runs the call. Else an ``@activity`` tool is called as itself (its own step, name and
    retry policy); any other tool runs in a step named ``{step_prefix}.{tool name}``. A call the model got wrong
    (an unknown tool, arguments that are not a JSON object) is answered with an error the model can act on.
    """
    name, args = call["name"], call["args"]
    if not isinstance(args, dict):
        return {"error": f"The arguments of {name!r} must be a JSON object; got {args!r}."}
    step_name = f"{step_prefix}.{name}"
    if executor is not None:
        return await Activity(_executor_step, name=step_name)(ctx, executor, name, args)
    tool = tools.get(name)
    if tool is None:
        return {"error": f"There is no tool named {name!r}. The tools are: {', '.join(sorted(tools)) or 'none'}."}
    if isinstance(tool, Activity):
        return await tool(ctx, **args)
    return await Activity(_mirascope_tool_step, name=step_name)(ctx, tool, call["id"], args, deps)


async def _executor_step(ctx: WorkflowContext, executor: ToolExecutor, name: str, args: dict[str, Any]) -> Any:
    if inspect.iscoroutinefunction(executor):
        return await executor(name, args)
    result = await asyncio.to_thread(executor, name, args)
    return await result if inspect.isawaitable(result) else result


async def _mirascope_tool_step(ctx: WorkflowContext, tool: Any, call_id: str, args: dict[str, Any], deps: Any) -> Any:
    tool_call = llm.ToolCall(id=call_id, name=tool.name, args=json.dumps(args))
    if isinstance(tool, llm.AsyncContextTool):
        output = await tool.execute(llm.Context(deps=deps), tool_call)
    elif isinstance(tool, llm.ContextTool):
        output = await asyncio.to_thread(tool.execute, llm.Context(deps=deps), tool_call)
    elif isinstance(tool, llm.AsyncTool):
        output = await tool.execute(tool_call)
    elif isinstance(tool, llm.Tool):
        output = await asyncio.to_thread(tool.execute, tool_call)
    else:
        raise TypeError(f"Tool {tool.name!r} is a {type(tool).__name__}, which has no function to run here")
    if output.error is not None:
        # The tool's own exception, so the retry policy sees its real type (a TerminalError stops at once).
        raise getattr(output.error, "tool_exception", output.error)
    return output.result
