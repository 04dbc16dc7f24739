"""Seed-compatible import path: ``from edda.integrations.llamaindex import DurableWorkflowRunner, ...``.

The implementation lives in the ``edda-llamaindex`` package (``edda_llamaindex``); this shim forwards to it.
"""

from __future__ import annotations

try:
    from edda_llamaindex import (  # pyright: ignore[reportMissingImports]
        DurableSleepEvent,
        DurableWaitEvent,
        DurableWorkflowRunner,
        ResumeEvent,
        WorkflowExecutionError,
        WorkflowReplayError,
    )
except ModuleNotFoundError as exc:
    if exc.name != "edda_llamaindex":  # installed but broken (a dependency of its own is missing): say that instead
        raise
    raise ImportError(
        "The LlamaIndex integration (DurableWorkflowRunner, DurableSleepEvent, DurableWaitEvent, ResumeEvent) lives "
        "in the edda-llamaindex package, which is not installed. Install it with: pip install edda-llamaindex"
    ) from exc

__all__ = [
    "DurableSleepEvent",
    "DurableWaitEvent",
    "DurableWorkflowRunner",
    "ResumeEvent",
    "WorkflowExecutionError",
    "WorkflowReplayError",
]
