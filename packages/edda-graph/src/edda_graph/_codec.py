"""JSON for what a node hands on: the next node (or ``End``) and the graph's state.

Nodes and state are dataclasses or pydantic models; pydantic's ``TypeAdapter`` dumps them to JSON and validates
them back into the same classes, so field types (nested dataclasses, datetimes, models) survive replay. A node is
recorded as its node id plus its fields; the id is looked up among the graph's nodes. ``End`` data is validated
back into the type the returning node's ``run`` annotation names (``End[Order]``), when it names one.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Iterable
from types import UnionType
from typing import Any, Union, get_args, get_origin, get_type_hints

from pydantic import BaseModel, TypeAdapter
from pydantic_graph import BaseNode, End

from edda_graph._nodes import Sleep, WaitForEvent

__all__ = ["GraphCodec", "RecordError", "check_state"]


class RecordError(TypeError):
    """A node, its result or the state cannot be written as (or read back from) JSON."""


@functools.cache
def _adapter(cls: type[Any]) -> TypeAdapter[Any]:
    return TypeAdapter(cls)


def _jsonable(cls: type[Any], value: Any, what: str) -> Any:
    try:
        dumped = _adapter(cls).dump_python(value, mode="json")
        json.dumps(dumped)
    except Exception as exc:
        raise RecordError(
            f"{what} cannot be recorded as JSON ({type(exc).__name__}: {exc}). Use a dataclass or pydantic model "
            "whose fields are JSON-compatible (str, int, float, bool, None, lists, dicts, datetimes, nested "
            "dataclasses or models)."
        ) from exc
    return dumped


class GraphCodec:
    """Encodes the nodes of one graph (and markers pointing at them), its ``End`` data and its state."""

    def __init__(self, node_classes: Iterable[type[BaseNode[Any, Any, Any]]]) -> None:
        self.nodes: dict[str, type[BaseNode[Any, Any, Any]]] = {}
        for cls in node_classes:
            node_id = cls.get_node_id()
            existing = self.nodes.get(node_id)
            if existing is not None and existing is not cls:
                raise ValueError(f"Two node classes share the node id {node_id!r}: {existing!r} and {cls!r}")
            self.nodes[node_id] = cls

    # -- nodes --------------------------------------------------------------------------------------------------

    def check(self, node: Any, *, returned_by: str | None = None) -> None:
        """Raise unless ``node`` is a node of this graph (or a marker whose next nodes are)."""
        if isinstance(node, WaitForEvent):
            self.check(node.next_node, returned_by=returned_by)
            if node.on_timeout is not None:
                self.check(node.on_timeout, returned_by=returned_by)
            return
        if isinstance(node, Sleep):
            self.check(node.next_node, returned_by=returned_by)
            return
        source = f"Node {returned_by!r} returned" if returned_by else "The start node is"
        if not isinstance(node, BaseNode):
            raise RecordError(f"{source} {node!r}, which is neither a node (BaseNode) nor End.")
        cls = type(node)
        if self.nodes.get(cls.get_node_id()) is not cls:
            known = ", ".join(sorted(self.nodes)) or "none"
            raise RecordError(
                f"{source} a {cls.__name__}, which is not a node of this graph (its nodes: {known}). "
                "Add the class to the nodes given to DurableGraph."
            )

    def encode_node(self, node: BaseNode[Any, Any, Any]) -> dict[str, Any]:
        if isinstance(node, WaitForEvent):
            return {
                "marker": "wait_for_event",
                "event_type": node.event_type,
                "timeout_seconds": node.timeout_seconds,
                "next": self.encode_node(node.next_node),
                "on_timeout": None if node.on_timeout is None else self.encode_node(node.on_timeout),
            }
        if isinstance(node, Sleep):
            return {"marker": "sleep", "seconds": node.seconds, "next": self.encode_node(node.next_node)}
        cls = type(node)
        return {"node": cls.get_node_id(), "fields": self._fields(cls, node)}

    def decode_node(self, data: dict[str, Any]) -> BaseNode[Any, Any, Any]:
        marker = data.get("marker")
        if marker == "wait_for_event":
            on_timeout = data.get("on_timeout")
            return WaitForEvent(
                event_type=data["event_type"],
                next_node=self.decode_node(data["next"]),
                timeout_seconds=data.get("timeout_seconds"),
                on_timeout=None if on_timeout is None else self.decode_node(on_timeout),
            )
        if marker == "sleep":
            return Sleep(seconds=data["seconds"], next_node=self.decode_node(data["next"]))
        cls = self.nodes.get(data["node"])
        if cls is None:
            raise RecordError(f"the recorded node {data['node']!r} is no longer a node of this graph")
        if not _structured(cls):
            return cls()
        return _adapter(cls).validate_python(data["fields"])

    def _fields(self, cls: type[Any], node: Any) -> Any:
        if _structured(cls):
            return _jsonable(cls, node, f"Node {cls.__name__}")
        if vars(node):
            raise RecordError(
                f"Node {cls.__name__} has attributes but is neither a dataclass nor a pydantic model, so it cannot "
                "be recorded. Decorate it with @dataclass."
            )
        return {}

    # -- End ----------------------------------------------------------------------------------------------------

    def encode_end(self, end: End[Any], returned_by: type[Any]) -> dict[str, Any]:
        end_type = _end_type(returned_by)
        if end_type is not None:
            return {"end": _jsonable(end_type, end.data, f"End data of node {returned_by.__name__}")}
        return {"end": _jsonable(type(end.data), end.data, f"End data of node {returned_by.__name__}")}

    def decode_end(self, data: dict[str, Any], returned_by: type[Any]) -> Any:
        end_type = _end_type(returned_by)
        if end_type is None:
            return data["end"]
        return _adapter(end_type).validate_python(data["end"])

    # -- state --------------------------------------------------------------------------------------------------

    @staticmethod
    def encode_state(state: Any) -> Any:
        return None if state is None else _jsonable(type(state), state, f"The graph state ({type(state).__name__})")

    @staticmethod
    def decode_state(state_type: type[Any], data: Any) -> Any:
        return None if data is None else _adapter(state_type).validate_python(data)

    @staticmethod
    def apply_state(state: Any, data: Any) -> None:
        """Make ``state`` (the caller's object) equal to the recorded ``data``, in place."""
        if state is None:
            return
        fresh = _adapter(type(state)).validate_python(data)
        if isinstance(state, BaseModel):
            names: Iterable[str] = type(state).model_fields
        else:
            names = (f.name for f in dataclasses.fields(state))
        for name in names:
            object.__setattr__(state, name, getattr(fresh, name))


def check_state(state: Any) -> None:
    """Raise unless ``state`` can be recorded between nodes (``None``, a dataclass or a pydantic model)."""
    if state is None or isinstance(state, BaseModel):
        return
    if dataclasses.is_dataclass(state) and not isinstance(state, type):
        return
    raise TypeError(
        f"DurableGraph records the state between nodes, so it must be a dataclass or a pydantic model "
        f"(or None); got {type(state).__name__}."
    )


def _structured(cls: type[Any]) -> bool:
    return dataclasses.is_dataclass(cls) or (isinstance(cls, type) and issubclass(cls, BaseModel))


@functools.cache
def _end_type(node_cls: type[Any]) -> Any:
    """The ``T`` of ``End[T]`` in ``node_cls.run``'s return annotation (``None`` if it names none or cannot be read)."""
    try:
        hints = get_type_hints(node_cls.run)
    except Exception:
        return None
    ret = hints.get("return")
    for option in get_args(ret) if get_origin(ret) in (Union, UnionType) else (ret,):
        if get_origin(option) is End:
            args = get_args(option)
            return args[0] if args and args[0] is not Any else None
    return None
