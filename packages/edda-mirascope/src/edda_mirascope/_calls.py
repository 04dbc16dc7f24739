"""``call`` and ``call_with_messages``: one durable LLM call, recorded in history as a ``DurableResponse`` dict."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from mirascope import llm

from edda import Activity, WorkflowContext
from edda_mirascope._errors import refused_calls_are_terminal
from edda_mirascope._messages import check_messages, to_mirascope
from edda_mirascope._options import check_model, check_params, make_format, tool_schemas
from edda_mirascope._response import DurableResponse

__all__ = ["call", "call_with_messages", "complete", "llm_step"]


async def complete(
    model: str,
    messages: Sequence[llm.Message],
    *,
    tools: Sequence[Any] = (),
    fmt: Any = None,
    params: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Make the LLM call through Mirascope and reduce its response to a ``DurableResponse`` dict.

    A refusal that no retry can fix becomes a ``TerminalError``; anything else (429, 5xx, timeouts, output that does
    not parse as ``response_model``) propagates and is retried by the activity's retry policy.
    """
    llm_model = llm.Model(model, **cast(llm.Params, dict(params or {})))
    with refused_calls_are_terminal(model):
        response = await llm_model.call_async(list(messages), tools=list(tools) or None, format=fmt)
    parsed = response.parse() if fmt is not None else None
    return DurableResponse.from_mirascope(response, parsed=parsed).to_dict()


async def _messages_step(
    ctx: WorkflowContext,
    model: str,
    messages: list[Any],
    system: str | None,
    tools: list[Any],
    fmt: Any,
    params: dict[str, Any],
) -> dict[str, Any]:
    return await complete(model, to_mirascope(messages, system=system), tools=tools, fmt=fmt, params=params)


_CALL = Activity(_messages_step, name="mirascope.call")
_CALL_WITH_MESSAGES = Activity(_messages_step, name="mirascope.call_with_messages")


def llm_step(name: str) -> Activity:
    """An activity, named ``name``, that makes one LLM call from checked messages (used by ``DurableAgent``)."""
    return Activity(_messages_step, name=name)


async def call(
    ctx: WorkflowContext,
    *,
    model: str,
    prompt: str | Any,
    system: str | None = None,
    tools: Sequence[Any] | None = None,
    response_model: Any = None,
    json_mode: bool = False,
    activity_id: str | None = None,
    **params: Any,
) -> dict[str, Any]:
    """Make one durable LLM call: an activity (``mirascope.call:N``) whose response is recorded and replayed.

    Args:
        ctx: the workflow context.
        model: ``"provider/model"``, e.g. ``"openai/gpt-4o-mini"``.
        prompt: the user message (a string, or Mirascope user content such as ``[text, llm.Image...]``).
        system: an optional system message.
        tools: functions, ``@activity`` functions or Mirascope tools the model may ask for. They are offered,
            not run: the response's ``tool_calls`` says what the model asked for.
        response_model: a pydantic model the answer must match; the validated value is in ``"parsed"``.
        json_mode: ask for the structured output in JSON mode instead of the provider's strict mode.
        activity_id: an explicit step id instead of ``mirascope.call:N``.
        **params: LLM parameters (``temperature``, ``max_tokens``, ``top_p``, ``top_k``, ``seed``,
            ``stop_sequences``, ``thinking``).

    Returns:
        The response as a dict (see :class:`DurableResponse`): ``content``, ``model``, ``provider``, ``usage``,
        ``tool_calls``, ``stop_reason``, ``raw``, ``parsed``.

    Raises:
        LLMCallError: the provider refused the request (4xx), or the model has no provider or API key.
        ValueError, TypeError: bad options (raised at once, before any step is recorded).
    """
    where = "call()"
    if isinstance(prompt, str):
        message: Any = {"role": "user", "content": prompt}
    elif prompt is None:
        raise TypeError(f"{where}: prompt is required: the user message, as a string")
    else:
        message = llm.messages.user(prompt)
    return await _run(
        _CALL, ctx, where, [message], model, system, tools, response_model, json_mode, activity_id, params
    )


async def call_with_messages(
    ctx: WorkflowContext,
    *,
    model: str,
    messages: Sequence[Mapping[str, Any] | llm.Message],
    system: str | None = None,
    tools: Sequence[Any] | None = None,
    response_model: Any = None,
    json_mode: bool = False,
    activity_id: str | None = None,
    **params: Any,
) -> dict[str, Any]:
    """Make one durable LLM call on a whole conversation (an activity, ``mirascope.call_with_messages:N``).

    Args:
        ctx: the workflow context.
        model: ``"provider/model"``, e.g. ``"openai/gpt-4o-mini"``.
        messages: the conversation: dicts ``{"role": "system" | "user" | "assistant", "content": "..."}`` (and
            the ``tool`` results and assistant ``tool_calls`` a tool loop produces), or Mirascope messages.
        system: an optional system message, sent first.
        tools: as for :func:`call`.
        response_model: as for :func:`call`.
        json_mode: as for :func:`call`.
        activity_id: an explicit step id.
        **params: LLM parameters, as for :func:`call`.

    Returns:
        The response as a dict (see :class:`DurableResponse`).

    Raises:
        LLMCallError: the provider refused the request, or the model is not configured.
        ValueError, TypeError: bad options or messages (raised at once, before any step is recorded).
    """
    where = "call_with_messages()"
    checked = check_messages(messages, where=where)
    return await _run(
        _CALL_WITH_MESSAGES, ctx, where, checked, model, system, tools, response_model, json_mode, activity_id, params
    )


async def _run(
    step: Activity,
    ctx: WorkflowContext,
    where: str,
    messages: list[Any],
    model: str,
    system: str | None,
    tools: Sequence[Any] | None,
    response_model: Any,
    json_mode: bool,
    activity_id: str | None,
    params: Mapping[str, Any],
) -> dict[str, Any]:
    if not isinstance(ctx, WorkflowContext):
        raise TypeError(f"{where} must be called with the WorkflowContext first: `await {where[:-2]}(ctx, ...)`")
    check_model(model, where=where)
    if system is not None and not isinstance(system, str):
        raise TypeError(f"{where}: system must be a string, got {type(system).__name__}")
    checked_params = check_params(params, where=where)
    fmt = make_format(response_model, json_mode, where=where)
    schemas = tool_schemas(tools, where=where)
    result = await step(ctx, model, messages, system, schemas, fmt, checked_params, activity_id=activity_id)
    return cast(dict[str, Any], result)
