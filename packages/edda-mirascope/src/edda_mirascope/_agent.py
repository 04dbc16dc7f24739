"""``DurableAgent`` and ``DurableDeps``: a conversation whose every LLM call and tool call is a durable step."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar, Generic, TypeVar

from edda import WorkflowContext
from edda_mirascope._calls import llm_step
from edda_mirascope._errors import ToolLoopLimitError
from edda_mirascope._messages import assistant_message, check_messages, tool_message
from edda_mirascope._options import check_model, check_params, make_format, tool_schemas
from edda_mirascope._response import DurableResponse
from edda_mirascope._tools import ToolExecutor, run_tool, runnable_tools

__all__ = ["DurableAgent", "DurableDeps"]

DepsT = TypeVar("DepsT")


@dataclass
class DurableDeps(Generic[DepsT]):
    """What an agent works with: your ``data`` and the conversation ``history`` (message dicts).

    The history is rebuilt identically on every replay, because it only grows from recorded responses.

    Attributes:
        data: anything your prompts and tools need (Mirascope context tools get it as ``ctx.deps``).
        history: the messages so far, ``{"role": ..., "content": ...}`` dicts, oldest first.
    """

    data: DepsT
    history: list[dict[str, Any]] = field(default_factory=list)

    def add_user_message(self, content: str) -> None:
        """Append a user message to the history."""
        self.history.append({"role": "user", "content": content})

    def add_assistant_message(self, content: str) -> None:
        """Append an assistant message to the history."""
        self.history.append({"role": "assistant", "content": content})

    def add_system_message(self, content: str) -> None:
        """Append a system message to the history."""
        self.history.append({"role": "system", "content": content})

    def clear_history(self) -> None:
        """Forget the conversation (``data`` stays)."""
        self.history.clear()


class DurableAgent(Generic[DepsT]):
    """A conversational agent inside a workflow. Subclass it and set ``model`` (and what else you need)::

        class Support(DurableAgent[Customer]):
            model = "openai/gpt-4o-mini"
            system_prompt = "You help customers of ACME."
            tools = (lookup_order,)         # functions, @activity functions or Mirascope tools

    Each LLM call is a step named ``{name}.llm:N`` and each tool call a step ``{name}.tool.{tool}:N`` (an
    ``@activity`` tool runs as itself): after a crash, completed calls are replayed, not made again.

    Attributes:
        model: ``"provider/model"`` (required).
        system_prompt: sent first by the default :meth:`build_prompt`.
        tools: offered to the model (see :meth:`get_tools`).
        response_model: a pydantic model the final answer must match (``DurableResponse.parsed``).
        json_mode: ask for ``response_model`` in JSON mode.
        params: LLM parameters, e.g. ``{"temperature": 0.2}``.
        name: the prefix of the agent's step names (default: the class name).
    """

    model: ClassVar[str] = ""
    system_prompt: ClassVar[str | None] = None
    tools: ClassVar[Sequence[Any]] = ()
    response_model: ClassVar[Any] = None
    json_mode: ClassVar[bool] = False
    params: ClassVar[Mapping[str, Any]] = MappingProxyType({})
    name: ClassVar[str | None] = None

    def __init__(self, ctx: WorkflowContext, *, model: str | None = None) -> None:
        """Create the agent for one workflow run.

        Args:
            ctx: the workflow context.
            model: overrides the class's ``model``.
        """
        kind = type(self).__name__
        if not isinstance(ctx, WorkflowContext):
            raise TypeError(f"{kind}(ctx) needs the WorkflowContext, got {type(ctx).__name__}")
        self.ctx = ctx
        chosen = model if model is not None else self.model
        if not chosen:
            raise ValueError(
                f"{kind} has no model: set model = 'provider/model' on the class (e.g. 'openai/gpt-4o-mini') "
                f"or pass {kind}(ctx, model=...)"
            )
        self.model_id = check_model(chosen, where=kind)
        self.step_prefix = self.name or kind
        self._params = check_params(self.params, where=f"{kind}.params")
        self._format = make_format(self.response_model, self.json_mode, where=kind)
        self._llm = llm_step(f"{self.step_prefix}.llm")
        self._tools = f"{self.step_prefix}.tool"

    def get_tools(self) -> list[Any]:
        """The tools offered to the model; override to choose them per call. Default: the ``tools`` attribute."""
        return list(self.tools)

    def build_prompt(self, deps: DurableDeps[DepsT], message: str) -> list[Any]:
        """The messages sent for ``message``; override to shape the prompt (e.g. from ``deps.data``).

        Default: ``system_prompt`` (if set), then ``deps.history``, then ``message`` as a user message.
        """
        prompt: list[Any] = []
        if self.system_prompt:
            prompt.append({"role": "system", "content": self.system_prompt})
        prompt.extend(deps.history)
        prompt.append({"role": "user", "content": message})
        return prompt

    async def chat(self, deps: DurableDeps[DepsT], message: str) -> DurableResponse:
        """One durable LLM call for ``message``; the exchange is appended to ``deps.history``.

        Tools are offered, not run: the model's requests are in the response's ``tool_calls`` (use
        :meth:`chat_with_tool_loop` to run them). Only the answer's text goes into the history.
        """
        tools = self.get_tools()
        schemas = tool_schemas(tools, where=f"{type(self).__name__}.get_tools()")
        response = await self._complete(self._prompt(deps, message), schemas)
        deps.history.append({"role": "user", "content": message})
        deps.history.append(assistant_message(response.content))
        return response

    async def chat_with_tool_loop(
        self,
        deps: DurableDeps[DepsT],
        message: str,
        tool_executor: ToolExecutor | None = None,
        max_iterations: int = 10,
    ) -> DurableResponse:
        """Call the model, run the tools it asks for, give it their results; repeat until it answers.

        Every LLM call and every tool call is a durable step. The whole exchange (tool calls and results
        included) is appended to ``deps.history`` once the model answers.

        Args:
            deps: the data and the conversation so far.
            message: the user's message.
            tool_executor: ``executor(tool_name, args)`` runs every tool call (sync or async) instead of the
                tools' own functions; each call is still a step ``{name}.tool.{tool}:N``.
            max_iterations: the most LLM calls to make for this message.

        Returns:
            The model's final answer.

        Raises:
            ToolLoopLimitError: the model still asked for tools after ``max_iterations`` calls.
        """
        kind = type(self).__name__
        _check_loop_options(kind, tool_executor, max_iterations)
        tools = self.get_tools()
        schemas = tool_schemas(tools, where=f"{kind}.get_tools()")
        runnable = runnable_tools(tools, schemas)
        prompt = self._prompt(deps, message)
        added: list[dict[str, Any]] = []
        asked: list[str] = []
        for _ in range(max_iterations):
            response = await self._complete([*prompt, *added], schemas)
            if not response.tool_calls:
                deps.history.append({"role": "user", "content": message})
                deps.history.extend(added)
                deps.history.append(assistant_message(response.content))
                return response
            added.append(assistant_message(response.content, response.tool_calls))
            asked = [c["name"] for c in response.tool_calls]
            for call in response.tool_calls:
                result = await run_tool(
                    self.ctx, call, tools=runnable, executor=tool_executor, deps=deps.data, step_prefix=self._tools
                )
                added.append(tool_message(call, result))
        raise ToolLoopLimitError(
            f"{kind}: the model still asked for tools after {max_iterations} LLM calls "
            f"(last: {', '.join(asked)}). Raise max_iterations, or change the "
            f"prompt or tools so it can answer."
        )

    def _prompt(self, deps: DurableDeps[DepsT], message: str) -> list[Any]:
        kind = type(self).__name__
        if not isinstance(deps, DurableDeps):
            raise TypeError(f"{kind}: deps must be a DurableDeps(data, history), got {type(deps).__name__}")
        if not isinstance(message, str):
            raise TypeError(f"{kind}: message must be a string, got {type(message).__name__}")
        return check_messages(self.build_prompt(deps, message), where=f"{kind}.build_prompt()")

    async def _complete(self, messages: list[Any], schemas: list[Any]) -> DurableResponse:
        data = await self._llm(self.ctx, self.model_id, messages, None, schemas, self._format, self._params)
        return DurableResponse.from_dict(data)


def _check_loop_options(kind: str, tool_executor: object, max_iterations: object) -> None:
    if not isinstance(max_iterations, int) or isinstance(max_iterations, bool) or max_iterations < 1:
        raise ValueError(f"{kind}.chat_with_tool_loop: max_iterations must be a positive int, got {max_iterations!r}")
    if tool_executor is not None and not callable(tool_executor):
        raise TypeError(f"{kind}.chat_with_tool_loop: tool_executor must be callable(name, args)")
