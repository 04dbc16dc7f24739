"""``@durable_call``: a Mirascope ``llm.call`` prompt function made into an Edda activity."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from mirascope import llm

from edda import Activity, RetryPolicy, WorkflowContext
from edda_mirascope._errors import refused_calls_are_terminal
from edda_mirascope._messages import check_messages, to_mirascope
from edda_mirascope._options import check_model, check_params, make_format, tool_schemas
from edda_mirascope._response import DurableResponse

__all__ = ["DurableCall", "durable_call"]


class DurableCall(Activity):
    """The activity ``@durable_call`` makes. Call it as ``await fn(ctx, *args, **kwargs)``: the arguments are the
    prompt function's; the result is the response as a dict (see :class:`DurableResponse`).

    Attributes:
        llm_call: the Mirascope ``AsyncCall`` (``llm.call(model, tools=..., format=..., **params)`` applied to the
            prompt function) that each new, unrecorded call runs.
        model: the ``"provider/model"`` id.
    """

    def __init__(
        self,
        prompt_fn: Callable[..., Any],
        *,
        model: str,
        tools: list[Any],
        fmt: Any,
        params: Mapping[str, Any],
        retry_policy: RetryPolicy | None,
    ) -> None:
        name = getattr(prompt_fn, "__name__", None)
        if not isinstance(name, str) or not name.isidentifier():
            raise TypeError(f"@durable_call(...) decorates a named function (def ...), got {prompt_fn!r}")
        self.prompt_fn = prompt_fn
        self.model = model
        self._signature = inspect.signature(prompt_fn)
        self.llm_call: Any = llm.call(
            model,
            tools=tools or None,
            format=fmt,
            **cast(llm.Params, dict(params)),
        )(_async_template(prompt_fn))
        step = _step_function(self.llm_call, model=model, fmt=fmt)
        for attr in ("__name__", "__qualname__", "__doc__", "__module__"):
            setattr(step, attr, getattr(prompt_fn, attr, getattr(step, attr)))
        super().__init__(step, name=name, retry_policy=retry_policy)

    def __call__(self, ctx: WorkflowContext, *args: Any, activity_id: str | None = None, **kwargs: Any) -> Any:
        try:  # a wrong call is a bug in the workflow: fail now, not as retried attempts of the step
            self._signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(
                f"{self.name}() takes the prompt function's arguments after ctx: "
                f"`await {self.name}(ctx{_shown(self._signature)})`; {exc}"
            ) from None
        return super().__call__(ctx, *args, activity_id=activity_id, **kwargs)


def _shown(signature: inspect.Signature) -> str:
    shown = []
    for p in signature.parameters.values():
        if p.kind is p.VAR_POSITIONAL:
            shown.append(f"*{p.name}")
        elif p.kind is p.VAR_KEYWORD:
            shown.append(f"**{p.name}")
        else:
            shown.append(f"{p.name}=..." if p.kind is p.KEYWORD_ONLY else p.name)
    return "".join(f", {s}" for s in shown)


def _async_template(prompt_fn: Callable[..., Any]) -> Callable[..., Any]:
    """The prompt function as the async message template Mirascope expects (sync or async; returning a string,
    Mirascope content or messages, or a list of message dicts)."""

    async def template(*args: Any, **kwargs: Any) -> Any:
        content = prompt_fn(*args, **kwargs)
        if inspect.isawaitable(content):
            content = await content
        if isinstance(content, list) and content and isinstance(content[0], Mapping):
            return to_mirascope(check_messages(content, where=f"{prompt_fn.__name__}() returned messages that"))
        return content

    template.__name__ = getattr(prompt_fn, "__name__", "prompt")
    template.__doc__ = prompt_fn.__doc__
    return template


def _step_function(llm_call: Any, *, model: str, fmt: Any) -> Callable[..., Any]:
    async def step(ctx: WorkflowContext, *args: Any, **kwargs: Any) -> dict[str, Any]:
        with refused_calls_are_terminal(model):
            response = await llm_call.call(*args, **kwargs)
        parsed = response.parse() if fmt is not None else None
        return DurableResponse.from_mirascope(response, parsed=parsed).to_dict()

    return step


def durable_call(
    model: str,
    *,
    tools: Sequence[Any] | None = None,
    response_model: Any = None,
    json_mode: bool = False,
    retry_policy: RetryPolicy | None = None,
    **params: Any,
) -> Callable[[Callable[..., Any]], DurableCall]:
    """Make a prompt function a durable LLM call: Mirascope's ``llm.call`` wrapped in an Edda activity.

    The function returns the prompt (a string, Mirascope content or messages, or a list of message dicts), as with
    ``@llm.call``; it may be sync or async. Call the result from a workflow as ``await fn(ctx, *args)``: the first
    time, the LLM is called and its response recorded; on every replay the recorded response is returned and no
    request is made.

    Example::

        @durable_call("openai/gpt-4o-mini", temperature=0.2)
        def summarize(text: str) -> str:
            return f"Summarize in one sentence: {text}"

        @workflow
        async def digest(ctx: WorkflowContext, text: str) -> str:
            return (await summarize(ctx, text))["content"]

    Args:
        model: ``"provider/model"``, e.g. ``"openai/gpt-4o-mini"`` or ``"anthropic/claude-sonnet-4-5"``.
        tools: functions, ``@activity`` functions or Mirascope tools offered to the model (their calls are in
            the response's ``tool_calls``; run them yourself, or use :class:`DurableAgent`).
        response_model: a pydantic model the answer must match; its validated value is in ``"parsed"``.
        json_mode: ask for ``response_model`` in JSON mode instead of the provider's strict mode.
        retry_policy: the activity's retry policy (default: the app's).
        **params: LLM parameters (``temperature``, ``max_tokens``, ``top_p``, ``top_k``, ``seed``,
            ``stop_sequences``, ``thinking``).

    Returns:
        A decorator making the function a :class:`DurableCall` activity named after it.

    Raises:
        ValueError, TypeError: a bad model string, unknown parameter, tool or response_model (at decoration).
    """
    if callable(model) and not isinstance(model, str):
        raise TypeError("durable_call needs the model: write @durable_call('openai/gpt-4o-mini'), with parentheses")
    check_model(model, where="durable_call")
    checked = check_params(params, where="durable_call")
    fmt = make_format(response_model, json_mode, where="durable_call")
    schemas = tool_schemas(tools, where="durable_call")
    if retry_policy is not None and not isinstance(retry_policy, RetryPolicy):
        raise TypeError(f"durable_call: retry_policy must be an edda.RetryPolicy, got {type(retry_policy).__name__}")

    def decorator(prompt_fn: Callable[..., Any]) -> DurableCall:
        if not callable(prompt_fn):
            raise TypeError(f"@durable_call(...) decorates a prompt function, got {type(prompt_fn).__name__}")
        return DurableCall(prompt_fn, model=model, tools=schemas, fmt=fmt, params=checked, retry_policy=retry_policy)

    return decorator
