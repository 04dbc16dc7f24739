"""Conversation messages as JSON dicts (what a workflow keeps and history can hold) and their Mirascope form.

A message is one of::

    {"role": "system", "content": "You are ..."}
    {"role": "user", "content": "Hello"}
    {"role": "assistant", "content": "Hi!", "tool_calls": [{"id": "call_1", "name": "search", "args": {...}}]}
    {"role": "tool", "tool_call_id": "call_1", "name": "search", "content": <the tool's JSON result>}

``tool_calls`` is optional. Mirascope message objects (``llm.messages.user(...)``) are accepted as they are.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from mirascope import llm

__all__ = ["ROLES", "assistant_message", "check_messages", "to_mirascope", "tool_message"]

ROLES = ("system", "user", "assistant", "tool")
_MIRASCOPE_MESSAGES = (llm.SystemMessage, llm.UserMessage, llm.AssistantMessage)


def assistant_message(content: str, tool_calls: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """The JSON dict of an assistant turn."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = [{"id": c["id"], "name": c["name"], "args": c["args"]} for c in tool_calls]
    return message


def tool_message(call: Mapping[str, Any], result: Any) -> dict[str, Any]:
    """The JSON dict of a tool's result, answering ``call`` (an entry of ``DurableResponse.tool_calls``)."""
    return {"role": "tool", "tool_call_id": call["id"], "name": call["name"], "content": result}


def check_messages(messages: object, *, where: str) -> list[Any]:
    """Validate a message list up front, so bad input fails at once with a message saying what to fix."""
    if isinstance(messages, str | bytes | Mapping) or not isinstance(messages, Sequence):
        raise TypeError(f"{where}: messages must be a list of message dicts, got {type(messages).__name__}")
    if not messages:
        raise ValueError(f"{where}: messages is empty; give at least one user message")
    for i, message in enumerate(messages):
        if isinstance(message, _MIRASCOPE_MESSAGES):
            continue
        if not isinstance(message, Mapping):
            raise TypeError(
                f"{where}: messages[{i}] must be a dict like {{'role': 'user', 'content': '...'}} or a Mirascope "
                f"message, got {type(message).__name__}"
            )
        _check_one(message, f"{where}: messages[{i}]")
    return list(messages)


def _check_one(message: Mapping[str, Any], where: str) -> None:
    role = message.get("role")
    if role not in ROLES:
        raise ValueError(f"{where} has role {role!r}; the roles are {', '.join(ROLES)}")
    if role == "tool":
        missing = [k for k in ("tool_call_id", "name") if not isinstance(message.get(k), str)]
        if missing:
            raise ValueError(f"{where} is a tool result without {' and '.join(missing)} (strings)")
        return
    if not isinstance(message.get("content"), str):
        raise TypeError(f"{where} ({role}) needs 'content' as a string, got {type(message.get('content')).__name__}")
    for call in message.get("tool_calls") or ():
        if role != "assistant" or not isinstance(call, Mapping) or not {"id", "name", "args"} <= set(call):
            raise ValueError(f"{where}: tool_calls belong to assistant messages, each with 'id', 'name' and 'args'")


def to_mirascope(messages: Sequence[Any], *, system: str | None = None) -> list[llm.Message]:
    """Mirascope messages for a checked message list, with ``system`` (if given) first."""
    converted: list[llm.Message] = [llm.messages.system(system)] if system is not None else []
    results: list[llm.ToolOutput[Any]] | None = None  # the tool results being gathered into one user message
    for message in messages:
        if isinstance(message, Mapping) and message["role"] == "tool":
            output = llm.ToolOutput(id=message["tool_call_id"], name=message["name"], result=message.get("content"))
            if results is None:  # results of one assistant turn travel together (some providers require it)
                results = []
                converted.append(llm.UserMessage(content=results))
            results.append(output)
            continue
        results = None
        if isinstance(message, _MIRASCOPE_MESSAGES):
            converted.append(message)
        elif message["role"] == "system":
            converted.append(llm.messages.system(message["content"]))
        elif message["role"] == "user":
            converted.append(llm.messages.user(message["content"]))
        else:
            converted.append(_assistant(message))
    return converted


def _assistant(message: Mapping[str, Any]) -> llm.AssistantMessage:
    parts: list[llm.AssistantContentPart] = []
    if message["content"]:
        parts.append(llm.Text(text=message["content"]))
    for call in message.get("tool_calls") or ():
        args = call["args"] if isinstance(call["args"], str) else json.dumps(call["args"])
        parts.append(llm.ToolCall(id=call["id"], name=call["name"], args=args))
    return llm.AssistantMessage(
        content=parts, provider_id=None, model_id=None, provider_model_name=None, raw_message=None
    )
