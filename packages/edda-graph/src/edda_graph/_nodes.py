"""The marker nodes ``WaitForEvent`` and ``Sleep``, the ``ReceivedEvent`` they deliver, and ``DurableGraphContext``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic_graph import BaseNode, End, GraphRunContext

__all__ = ["DurableGraphContext", "ReceivedEvent", "Sleep", "WaitForEvent"]

StateT = TypeVar("StateT")
DepsT = TypeVar("DepsT")


@dataclass(frozen=True)
class ReceivedEvent:
    """The CloudEvent a :class:`WaitForEvent` received, as ``ctx.last_event`` of the nodes that follow it.

    Attributes:
        event_type: the CloudEvent's type.
        data: its data (a dict, or bytes for a binary event).
        metadata: its other attributes (``source``, ``id``, ``time``, ..., and ``extensions`` if it had any).
    """

    event_type: str
    data: Any
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(kw_only=True)
class DurableGraphContext(GraphRunContext[StateT, DepsT], Generic[StateT, DepsT]):
    """What a node's ``run(ctx)`` receives under :class:`~edda_graph.DurableGraph`: pydantic-graph's
    ``GraphRunContext`` (``state``, ``deps``) plus the Edda instance.

    Attributes:
        instance_id: the Edda workflow instance running the graph.
        is_replaying: whether the Edda run was replaying recorded steps when this node started.
        last_event: the event the most recent :class:`WaitForEvent` received (``None`` before any).
    """

    instance_id: str = ""
    is_replaying: bool = False
    last_event: ReceivedEvent | None = None


class _Marker(BaseNode[Any, Any, Any]):
    async def run(self, ctx: GraphRunContext[Any, Any]) -> End[None]:
        raise RuntimeError(
            f"{type(self).__name__} is carried out by edda_graph.DurableGraph, which waits durably; "
            "run the graph with DurableGraph(...).run(ctx, ...) inside an Edda workflow."
        )


@dataclass
class WaitForEvent(_Marker):
    """Return it from a node to wait durably for a CloudEvent of ``event_type``, then continue with ``next_node``.

    The process is free while the graph waits. ``next_node`` (and the nodes after it) see the event as
    ``ctx.last_event``. With ``timeout_seconds`` and no event in time, the graph continues with ``on_timeout`` if
    given; without it, ``DurableGraph.run`` raises ``edda.EventTimeoutError``.

    Attributes:
        event_type: the CloudEvent type to wait for.
        next_node: the node to run once the event has arrived.
        timeout_seconds: give up after this long (``None``: wait as long as it takes).
        on_timeout: the node to run when the wait timed out.
    """

    event_type: str
    next_node: BaseNode[Any, Any, Any]
    timeout_seconds: float | None = None
    on_timeout: BaseNode[Any, Any, Any] | None = None


@dataclass
class Sleep(_Marker):
    """Return it from a node to pause the graph durably for ``seconds``, then continue with ``next_node``.

    Attributes:
        seconds: how long to sleep.
        next_node: the node to run afterwards.
    """

    seconds: float
    next_node: BaseNode[Any, Any, Any]
