"""``DurableGraph``: runs a pydantic-graph graph inside an Edda workflow, each node an Edda activity."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

from pydantic_graph import BaseNode, End, Graph
from pydantic_graph.join import Join
from pydantic_graph.step import NodeStep, Step

from edda import Activity, EventTimeoutError, RetryPolicy, TerminalError, WorkflowContext, sleep, wait_event
from edda.exceptions import LeaseLostError, NonDeterminismError, StorageUnavailableError, WorkflowCancelledException
from edda_graph._codec import GraphCodec, RecordError, check_state
from edda_graph._errors import GraphExecutionError
from edda_graph._nodes import DurableGraphContext, ReceivedEvent, Sleep, WaitForEvent

__all__ = ["DurableGraph"]

_ENGINE_ERRORS: tuple[type[BaseException], ...] = (
    WorkflowCancelledException,
    NonDeterminismError,
    LeaseLostError,
    StorageUnavailableError,
)
# How many graphs each Edda run (one WorkflowContext) has run: the n-th gets the step ids "graph:n:…".
_RUNS: WeakKeyDictionary[WorkflowContext, int] = WeakKeyDictionary()


@dataclass
class _NodeCall:
    """One node to run: what the activity needs, none of which is recorded except the outcome."""

    codec: GraphCodec
    node: BaseNode[Any, Any, Any]
    state_type: type[Any] | None
    state: Any  # the state before the node, as JSON
    deps: Any
    last_event: ReceivedEvent | None


async def _run_node(ctx: WorkflowContext, call: _NodeCall) -> dict[str, Any]:
    """The activity: run one node on a fresh copy of the state; return the state after it and what comes next."""
    state = None if call.state_type is None else call.codec.decode_state(call.state_type, call.state)
    node_ctx: DurableGraphContext[Any, Any] = DurableGraphContext(
        state=state,
        deps=call.deps,
        instance_id=ctx.instance_id,
        is_replaying=ctx.is_replaying,
        last_event=call.last_event,
    )
    outcome = await call.node.run(node_ctx)
    node_cls = type(call.node)
    try:
        if isinstance(outcome, End):
            following: dict[str, Any] = call.codec.encode_end(outcome, node_cls)
        else:
            call.codec.check(outcome, returned_by=node_cls.get_node_id())
            following = {"next": call.codec.encode_node(outcome)}
        return {"state": call.codec.encode_state(state), **following}
    except RecordError as exc:
        raise TerminalError(str(exc)) from exc


class DurableGraph:
    """Runs a pydantic-graph graph of ``BaseNode`` classes inside an Edda workflow, each node an Edda activity.

    ``node.run(ctx)`` returns the next node or ``End``, as in pydantic-graph; each node runs as an activity whose
    outcome (the state after it, the next node or the end value) is recorded, so after a crash the graph continues
    at the first node without a record. A node may return :class:`~edda_graph.Sleep` or
    :class:`~edda_graph.WaitForEvent` to wait durably.

    Example::

        graph = DurableGraph([CheckStock, ChargeCard, Ship])

        @workflow
        async def order(ctx: WorkflowContext, order_id: str) -> str:
            return await graph.run(ctx, CheckStock(order_id), state=OrderState())

    Args:
        graph: the graph's node classes (a sequence of ``BaseNode`` subclasses: what pydantic-graph's classic
            ``Graph(nodes=...)`` took), or a pydantic-graph ``Graph`` built with ``GraphBuilder`` from ``BaseNode``
            classes (``g.node(...)``).
        retry_policy: Edda's retry policy for each node (default: the app's).

    Raises:
        TypeError: ``graph`` is none of those.
        ValueError: the graph has builder steps or joins (only ``BaseNode`` graphs run durably).
    """

    def __init__(self, graph: Any, *, retry_policy: RetryPolicy | None = None) -> None:
        if retry_policy is not None and not isinstance(retry_policy, RetryPolicy):
            raise TypeError(f"retry_policy must be an edda.RetryPolicy, got {type(retry_policy).__name__}")
        self.graph = graph
        self.retry_policy = retry_policy
        self._codec = GraphCodec(_node_classes(graph))
        self._activities: dict[str, Activity] = {}

    @property
    def node_classes(self) -> tuple[type[BaseNode[Any, Any, Any]], ...]:
        """The node classes this graph runs."""
        return tuple(self._codec.nodes.values())

    async def run(
        self, ctx: WorkflowContext, start_node: BaseNode[Any, Any, Any], *, state: Any, deps: Any = None
    ) -> Any:
        """Run the graph from ``start_node`` to ``End`` and return the end value.

        Call it from Edda workflow code (not from an activity). ``state`` is updated in place after every node,
        as pydantic-graph does; ``deps`` are handed to the nodes as they are (never recorded).

        Returns:
            The ``data`` of the ``End`` a node returned.

        Raises:
            GraphExecutionError: a node failed for good, or returned something that is not a node of this graph.
            edda.EventTimeoutError: a ``WaitForEvent`` with ``timeout_seconds`` and no ``on_timeout`` timed out.
            TypeError: ``state`` is not a dataclass, a pydantic model or ``None``.
        """
        if not isinstance(ctx, WorkflowContext):
            raise TypeError(f"run() takes the Edda WorkflowContext first, got {type(ctx).__name__}")
        if ctx.in_transaction():
            raise RuntimeError("DurableGraph.run() belongs in workflow code, not inside an activity.")
        check_state(state)
        try:
            self._codec.check(start_node)
            self._codec.encode_state(state)
        except RecordError as exc:
            raise GraphExecutionError(str(exc)) from exc
        _RUNS[ctx] = n = _RUNS.get(ctx, 0) + 1
        return await _GraphRun(self, ctx, f"graph:{n}", state, deps).run(start_node)

    def _activity(self, node_id: str) -> Activity:
        act = self._activities.get(node_id)
        if act is None:
            act = self._activities[node_id] = Activity(_run_node, name=node_id, retry_policy=self.retry_policy)
        return act


class _GraphRun:
    """One run of a graph in one Edda run: node after node, each a recorded step."""

    def __init__(self, graph: DurableGraph, ctx: WorkflowContext, scope: str, state: Any, deps: Any) -> None:
        self._graph = graph
        self._codec = graph._codec
        self._ctx = ctx
        self._scope = scope
        self._state = state
        self._deps = deps
        self._last_event: ReceivedEvent | None = None
        self._step = 0

    async def run(self, node: BaseNode[Any, Any, Any]) -> Any:
        while True:
            self._step += 1
            if isinstance(node, Sleep):
                await sleep(self._ctx, node.seconds, timer_id=f"{self._scope}:{self._step}:sleep")
                node = node.next_node
            elif isinstance(node, WaitForEvent):
                node = await self._wait(node)
            else:
                node_cls = type(node)
                following = await self._run_node(node)
                try:
                    if "end" in following:
                        return self._codec.decode_end(following, node_cls)
                    node = self._codec.decode_node(following["next"])
                except Exception as exc:
                    raise GraphExecutionError(
                        f"What node {node_cls.get_node_id()!r} returned (step {self._step}) cannot be loaded from "
                        f"its record: {exc}. The graph's node classes changed while this instance was in flight.",
                        node_id=node_cls.get_node_id(),
                    ) from exc

    async def _wait(self, marker: WaitForEvent) -> BaseNode[Any, Any, Any]:
        try:
            received = await wait_event(
                self._ctx,
                marker.event_type,
                timeout_seconds=marker.timeout_seconds,
                event_id=f"{self._scope}:{self._step}:wait_event",
            )
        except EventTimeoutError:
            if marker.on_timeout is None:
                raise
            return marker.on_timeout
        metadata = {k: v for k, v in dataclasses.asdict(received.metadata).items() if v is not None and k != "type"}
        if received.extensions:
            metadata["extensions"] = dict(received.extensions)
        self._last_event = ReceivedEvent(event_type=received.type, data=received.data, metadata=metadata)
        return marker.next_node

    async def _run_node(self, node: BaseNode[Any, Any, Any]) -> dict[str, Any]:
        node_id = type(node).get_node_id()
        call = _NodeCall(
            codec=self._codec,
            node=node,
            state_type=None if self._state is None else type(self._state),
            state=self._codec.encode_state(self._state),
            deps=self._deps,
            last_event=self._last_event,
        )
        activity_id = f"{self._scope}:{self._step}:{node_id}"
        try:
            record = await self._graph._activity(node_id)(self._ctx, call, activity_id=activity_id)
        except _ENGINE_ERRORS:
            raise
        except Exception as exc:
            raise GraphExecutionError(f"Node {node_id!r} failed: {type(exc).__name__}: {exc}", node_id=node_id) from exc
        try:
            self._codec.apply_state(self._state, record["state"])
        except Exception as exc:
            raise GraphExecutionError(
                f"The recorded state after node {node_id!r} (activity {activity_id!r}) cannot be loaded: {exc}. "
                "The state class changed while this instance was in flight.",
                node_id=node_id,
            ) from exc
        return record


def _node_classes(graph: Any) -> list[type[BaseNode[Any, Any, Any]]]:
    """The BaseNode classes of ``graph`` (see :class:`DurableGraph` for what it may be)."""
    if isinstance(graph, Graph):
        return _builder_node_classes(graph)
    if isinstance(graph, Iterable) and not isinstance(graph, str | bytes):
        classes = list(graph)
        bad = [c for c in classes if not (isinstance(c, type) and issubclass(c, BaseNode))]
        if classes and not bad:
            return classes
    raise TypeError(
        "DurableGraph needs the graph's node classes: a sequence of BaseNode subclasses, e.g. "
        f"DurableGraph([Start, Check, Finish]), or a pydantic-graph Graph built from BaseNode classes; got {graph!r}"
    )


def _builder_node_classes(graph: Graph[Any, Any, Any, Any]) -> list[type[BaseNode[Any, Any, Any]]]:
    unsupported: Sequence[str] = [
        str(node_id)
        for node_id, node in graph.nodes.items()
        if isinstance(node, Join) or (isinstance(node, Step) and not isinstance(node, NodeStep))
    ]
    if unsupported:
        raise ValueError(
            f"DurableGraph runs graphs of BaseNode classes; this graph also has builder steps or joins "
            f"({', '.join(sorted(unsupported))}), which it cannot record node by node. Write them as BaseNode "
            "classes, or run this graph with pydantic-graph inside an activity."
        )
    return [node.node_type for node in graph.nodes.values() if isinstance(node, NodeStep)]
