"""Run LlamaIndex workflows durably on Edda: each step is a durable activity.

    from edda_llamaindex import DurableWorkflowRunner, DurableSleepEvent, DurableWaitEvent, ResumeEvent

``edda.integrations.llamaindex`` is the same API under the path Edda's documentation uses.
"""

from __future__ import annotations

from edda_llamaindex._errors import WorkflowExecutionError, WorkflowReplayError
from edda_llamaindex._events import DurableSleepEvent, DurableWaitEvent, ResumeEvent
from edda_llamaindex._runner import DurableWorkflowRunner

__all__ = [
    "DurableSleepEvent",
    "DurableWaitEvent",
    "DurableWorkflowRunner",
    "ResumeEvent",
    "WorkflowExecutionError",
    "WorkflowReplayError",
]
