"""Seed-compatible import path: ``from edda.integrations.graph import DurableGraph, ...`` (experimental).

The implementation lives in the ``edda-graph`` package (``edda_graph``); this shim forwards to it.
"""

from __future__ import annotations

try:
    from edda_graph import (  # pyright: ignore[reportMissingImports]
        DurableGraph,
        DurableGraphContext,
        GraphExecutionError,
        ReceivedEvent,
        Sleep,
        WaitForEvent,
    )
except ModuleNotFoundError as exc:
    if exc.name != "edda_graph":  # installed but broken (a dependency of its own is missing): say that instead
        raise
    raise ImportError(
        "The pydantic-graph integration (DurableGraph, WaitForEvent, Sleep) lives in the edda-graph package, which "
        "is not installed. Install it with: pip install edda-graph"
    ) from exc

__all__ = [
    "DurableGraph",
    "DurableGraphContext",
    "GraphExecutionError",
    "ReceivedEvent",
    "Sleep",
    "WaitForEvent",
]
