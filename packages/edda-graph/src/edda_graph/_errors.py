"""The exception of the pydantic-graph integration."""

from __future__ import annotations

__all__ = ["GraphExecutionError"]


class GraphExecutionError(Exception):
    """A graph run by :class:`~edda_graph.DurableGraph` failed.

    Raised when a node fails for good (after the Edda retry policy; ``__cause__`` is the node's error), when a node
    returns something that is neither a node of the graph nor ``End``, or when a node or the state cannot be
    recorded as JSON.

    Attributes:
        node_id: the node that failed (``None`` when the failure is not a node's).
    """

    def __init__(self, message: str, *, node_id: str | None = None) -> None:
        super().__init__(message)
        self.node_id = node_id
