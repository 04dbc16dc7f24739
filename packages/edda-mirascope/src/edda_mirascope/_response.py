"""``DurableResponse``: what a durable LLM call records in history, as plain JSON data."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from mirascope import llm

__all__ = ["DurableResponse"]

_ModelT = TypeVar("_ModelT")


@dataclass(frozen=True)
class DurableResponse:
    """An LLM response reduced to JSON data, so it can be recorded once and replayed ever after.

    Attributes:
        content: the text of the answer ("" when the model only asked for tools).
        model: the model id, ``"provider/model"`` (e.g. ``"openai/gpt-4o-mini"``).
        provider: the provider id (e.g. ``"openai"``).
        usage: token counts (``input_tokens``, ``output_tokens``, ``total_tokens``, ``cache_read_tokens``,
            ``cache_write_tokens``, ``reasoning_tokens``), or ``None`` when the provider reports none.
        tool_calls: the tools the model asks for, in order: ``{"id", "name", "args"}`` with ``args`` the decoded
            JSON arguments (a dict; the raw string if the model sent invalid JSON).
        stop_reason: ``"tool_calls"`` when the model asks for tools, ``"max_tokens"``, ``"refusal"`` or
            ``"context_length_exceeded"`` when it stopped early, else ``"stop"``.
        raw: the provider's response body as JSON (e.g. OpenAI's ``Response`` object), or ``None``.
        parsed: with ``response_model``, the validated structured output as JSON data (``model_dump``), else
            ``None``. :meth:`parse` turns it back into the model.
    """

    content: str
    model: str
    provider: str
    usage: dict[str, int] | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    stop_reason: str = "stop"
    raw: dict[str, Any] | None = None
    parsed: Any = None

    @property
    def has_tool_calls(self) -> bool:
        """Whether the model asks for tools."""
        return bool(self.tool_calls)

    def parse(self, response_model: type[_ModelT]) -> _ModelT:
        """The structured output as an instance of ``response_model`` (a pydantic model).

        Raises:
            ValueError: the call had no ``response_model``, so there is nothing to parse.
        """
        if self.parsed is None:
            raise ValueError("This response has no structured output: pass response_model=... to the call to get one.")
        return response_model.model_validate(self.parsed)  # type: ignore[attr-defined,no-any-return]

    def to_dict(self) -> dict[str, Any]:
        """The response as a JSON-ready dict (what the activities return and history records)."""
        return {
            "content": self.content,
            "model": self.model,
            "provider": self.provider,
            "usage": self.usage,
            "tool_calls": [dict(c) for c in self.tool_calls],
            "stop_reason": self.stop_reason,
            "raw": self.raw,
            "parsed": self.parsed,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DurableResponse:
        """Rebuild a response from :meth:`to_dict`'s output (e.g. the dict ``call`` returned)."""
        if not isinstance(data, Mapping) or "content" not in data or "model" not in data:
            raise TypeError(
                f"DurableResponse.from_dict needs the dict a durable LLM call returned (with 'content' and 'model'), "
                f"got {type(data).__name__}"
            )
        return cls(
            content=data["content"],
            model=data["model"],
            provider=data.get("provider", ""),
            usage=data.get("usage"),
            tool_calls=list(data.get("tool_calls") or []),
            stop_reason=data.get("stop_reason", "stop"),
            raw=data.get("raw"),
            parsed=data.get("parsed"),
        )

    @classmethod
    def from_mirascope(cls, response: llm.AnyResponse, *, parsed: Any = None) -> DurableResponse:
        """Reduce a Mirascope response (and its parsed structured output, if any) to JSON data."""
        calls = [{"id": c.id, "name": c.name, "args": _decode_args(c.args)} for c in response.tool_calls]
        if calls:
            stop = "tool_calls"
        elif response.finish_reason is not None:
            stop = response.finish_reason.value
        else:
            stop = "stop"
        return cls(
            content=response.text(""),
            model=response.model_id,
            provider=response.provider_id,
            usage=_usage(response.usage),
            tool_calls=calls,
            stop_reason=stop,
            raw=_raw(response.raw),
            parsed=_jsonable(parsed),
        )


def _decode_args(args: str) -> Any:
    try:
        decoded = json.loads(args) if args and args.strip() else {}
    except ValueError:
        return args
    return decoded if isinstance(decoded, dict) else args


def _usage(usage: llm.Usage | None) -> dict[str, int] | None:
    if usage is None:
        return None
    return {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
        "cache_read_tokens": usage.cache_read_tokens,
        "cache_write_tokens": usage.cache_write_tokens,
        "reasoning_tokens": usage.reasoning_tokens,
    }


def _raw(raw: Any) -> dict[str, Any] | None:
    dump = getattr(raw, "model_dump", None)
    if dump is None:
        return raw if isinstance(raw, dict) else None
    value = dump(mode="json")
    return value if isinstance(value, dict) else None


def _jsonable(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    return dump(mode="json") if callable(dump) else value
