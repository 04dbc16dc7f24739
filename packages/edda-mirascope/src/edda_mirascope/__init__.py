"""Durable LLM calls for Edda with Mirascope.

Each LLM call is an Edda activity: its response is recorded once, and every replay (after a crash, on another
worker, when a waiting workflow resumes) returns the recorded response without calling the provider again.

    from edda_mirascope import durable_call          # also: from edda.integrations.mirascope import ...

    @durable_call("openai/gpt-4o-mini")
    def summarize(text: str) -> str:
        return f"Summarize: {text}"

    # in a workflow:  response = await summarize(ctx, text);  response["content"]
"""

from __future__ import annotations

from edda_mirascope._agent import DurableAgent, DurableDeps
from edda_mirascope._calls import call, call_with_messages
from edda_mirascope._decorator import DurableCall, durable_call
from edda_mirascope._errors import LLMCallError, ToolLoopLimitError
from edda_mirascope._response import DurableResponse

__all__ = [
    "DurableAgent",
    "DurableCall",
    "DurableDeps",
    "DurableResponse",
    "LLMCallError",
    "ToolLoopLimitError",
    "call",
    "call_with_messages",
    "durable_call",
]
