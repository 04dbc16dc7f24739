"""Run pydantic-graph graphs durably on Edda: each node is a durable activity.

    from edda_graph import DurableGraph, DurableGraphContext, WaitForEvent, Sleep, ReceivedEvent

``edda.integrations.graph`` is the same API under the path Edda's documentation uses. Experimental.
"""

from __future__ import annotations

from edda_graph._errors import GraphExecutionError
from edda_graph._graph import DurableGraph
from edda_graph._nodes import DurableGraphContext, ReceivedEvent, Sleep, WaitForEvent

__all__ = [
    "DurableGraph",
    "DurableGraphContext",
    "GraphExecutionError",
    "ReceivedEvent",
    "Sleep",
    "WaitForEvent",
]
