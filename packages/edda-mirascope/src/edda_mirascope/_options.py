"""Checking a call's options up front (model, parameters, response format, tools), with errors that say what to fix.

Bad options fail where the call is written (at decoration, or when the workflow makes the call), never inside the
activity, where an error would be retried as if the provider had failed.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

from mirascope import llm
from mirascope.llm.tools import ToolSchema

from edda import Activity

__all__ = ["PARAM_NAMES", "check_model", "check_params", "make_format", "tool_schemas"]

PARAM_NAMES: frozenset[str] = frozenset(llm.Params.__optional_keys__)


def check_model(model: object, *, where: str) -> str:
    """``model`` itself, if it is a ``"provider/model"`` string."""
    if not isinstance(model, str) or model.count("/") < 1 or model.startswith("/") or model.endswith("/"):
        raise ValueError(
            f"{where}: model must be a 'provider/model' string such as 'openai/gpt-4o-mini' or "
            f"'anthropic/claude-sonnet-4-5', got {model!r}"
        )
    return model


def check_params(params: Mapping[str, Any], *, where: str) -> dict[str, Any]:
    """The LLM parameters (``temperature``, ``max_tokens``, ...), if Mirascope's ``llm.Params`` knows them all."""
    unknown = sorted(set(params) - PARAM_NAMES)
    if unknown:
        raise TypeError(
            f"{where}: unknown LLM parameter{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
            f"the parameters are {', '.join(sorted(PARAM_NAMES))}"
        )
    return dict(params)


def make_format(response_model: Any, json_mode: bool, *, where: str) -> Any:
    """Mirascope's ``format=`` for a ``response_model`` (JSON mode if asked), or ``None``."""
    if response_model is None:
        if json_mode:
            raise ValueError(
                f"{where}: json_mode=True needs response_model=... (the pydantic model the JSON answer must match)"
            )
        return None
    if isinstance(response_model, llm.Format):
        return response_model
    if not inspect.isclass(response_model) and not callable(response_model):
        raise TypeError(
            f"{where}: response_model must be a pydantic model class (or an llm.format(...)), "
            f"got {type(response_model).__name__}"
        )
    model: Any = response_model
    return llm.format(model, mode="json") if json_mode else model


def tool_schemas(tools: Sequence[Any] | None, *, where: str) -> list[Any]:
    """Mirascope tools for ``tools``: Mirascope tools as they are, ``@activity`` functions and plain functions
    described from their signature and docstring (an activity's ``ctx`` is not shown to the model)."""
    if tools is None:
        return []
    if isinstance(tools, str | bytes | Mapping) or not isinstance(tools, Sequence):
        raise TypeError(f"{where}: tools must be a list of functions or Mirascope tools, got {type(tools).__name__}")
    schemas: list[Any] = []
    for i, tool in enumerate(tools):
        if isinstance(tool, ToolSchema | llm.ProviderTool):
            schemas.append(tool)
        elif isinstance(tool, Activity):
            schemas.append(ToolSchema.from_function(tool.func, is_context_tool=True))
        elif inspect.isfunction(tool) or inspect.ismethod(tool):
            function: Any = tool
            schemas.append(llm.tool(function))
        else:
            raise TypeError(
                f"{where}: tools[{i}] is a {type(tool).__name__}; a tool is a function, an @activity, or a "
                f"Mirascope tool (@llm.tool)"
            )
    names = [t.name for t in schemas]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"{where}: two tools are named {', '.join(duplicates)}; tool names must be unique")
    return schemas
