"""Seed-compatible import path: ``from edda.integrations.mirascope import durable_call, DurableAgent, ...``.

The implementation lives in the ``edda-mirascope`` package (``edda_mirascope``); this shim forwards to it.
"""

from __future__ import annotations

try:
    from edda_mirascope import (  # pyright: ignore[reportMissingImports]
        DurableAgent,
        DurableCall,
        DurableDeps,
        DurableResponse,
        LLMCallError,
        ToolLoopLimitError,
        call,
        call_with_messages,
        durable_call,
    )
except ModuleNotFoundError as exc:
    if exc.name != "edda_mirascope":  # installed but broken (a dependency of its own is missing): say that instead
        raise
    raise ImportError(
        "The Mirascope integration (durable_call, call, call_with_messages, DurableAgent) lives in the "
        "edda-mirascope package, which is not installed. Install it with: pip install edda-mirascope"
    ) from exc

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
