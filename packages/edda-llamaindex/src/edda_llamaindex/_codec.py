"""JSON for what a step hands back to LlamaIndex, and stable fingerprints of what a step was given.

A step's outputs (its returned event, events sent with ``ctx.send_event``, collect and waiter bookkeeping) are
LlamaIndex's own pydantic records; they are dumped to JSON with LlamaIndex's serializer conventions and rebuilt
with them on replay. Event classes are looked up among the workflow's declared events first, then imported by
their qualified name, so classes defined anywhere in the user's modules load. Nothing is pickled.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel
from workflows.context.serializers import JsonSerializer
from workflows.events import CollectionReleaseEvent, StopEvent
from workflows.runtime.types.results import (
    AddCollectedEvent,
    AddWaiter,
    DeleteCollectedEvent,
    DeleteWaiter,
    SentEvent,
    StepWorkerOutput,
    StepWorkerResult,
)

__all__ = ["EventCodec", "UnstorableOutputError"]

_KINDS: dict[str, type[BaseModel]] = {
    "result": StepWorkerResult,
    "add_collected": AddCollectedEvent,
    "delete_collected": DeleteCollectedEvent,
    "add_waiter": AddWaiter,
    "delete_waiter": DeleteWaiter,
    "sent": SentEvent,
}


class UnstorableOutputError(TypeError):
    """A step's output cannot be written as JSON."""


class EventCodec(JsonSerializer):
    """LlamaIndex's JSON serializer, resolving the workflow's own event classes without importing them."""

    def __init__(self) -> None:
        super().__init__()
        self._known: dict[str, type[Any]] = {}

    def register(self, classes: Iterable[type[Any]]) -> None:
        """Make ``classes`` resolvable by their serialized names (module plus name, or plus qualified name)."""
        for cls in classes:
            self._known[f"{cls.__module__}.{cls.__qualname__}"] = cls
            self._known[f"{cls.__module__}.{cls.__name__}"] = cls

    def resolve_class(self, qualified_name: str) -> type[Any]:
        known = self._known.get(qualified_name)
        return known if known is not None else super().resolve_class(qualified_name)

    # -- fingerprints -------------------------------------------------------------------------------------------

    def fingerprint(self, *parts: Any) -> str:
        """A short digest of ``parts`` (events, dicts, numbers) that is the same in every process and on replay."""
        canonical = json.dumps([self._fingerprint_value(p) for p in parts], sort_keys=True, default=_type_name)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def _fingerprint_value(self, value: Any) -> Any:
        if isinstance(value, CollectionReleaseEvent):
            # Stream and binding ids are counters that depend on the order steps finished in; the members are the
            # input. Their arrival order varies the same way, so they are compared as a sorted list.
            return sorted(self.fingerprint(member) for member in value.events)
        if isinstance(value, Mapping):
            return {str(k): self._fingerprint_value(v) for k, v in value.items()}  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
        try:
            return self.serialize_value(value)
        except Exception:
            return _type_name(value)

    # -- step outputs -------------------------------------------------------------------------------------------

    def encode_outputs(self, outputs: list[StepWorkerOutput]) -> list[dict[str, Any]]:
        """The outputs as JSON-compatible dicts.

        Raises:
            UnstorableOutputError: an event holds a value JSON cannot represent.
        """
        encoded: list[dict[str, Any]] = []
        for item in outputs:
            data = item.model_dump(mode="json")
            kind = "sent" if isinstance(item, SentEvent) else str(data["type"])
            if isinstance(item, StepWorkerResult) and type(item.result) is StopEvent:
                # A plain StopEvent's result is private to pydantic; keep its type (a model comes back as a model).
                data["stop_result"] = self.serialize_value(item.result.result)
            if isinstance(item, AddWaiter):
                data["requirements"] = self.serialize_value(item.requirements)  # LlamaIndex drops them
            encoded.append({"kind": kind, "data": data})
        try:
            json.dumps(encoded)
        except (TypeError, ValueError) as exc:
            raise UnstorableOutputError(
                f"its events cannot be stored as JSON ({exc}). Give events and StopEvent results JSON-compatible "
                "values: str, int, float, bool, None, lists, dicts, or pydantic models of those."
            ) from exc
        return encoded

    def decode_outputs(self, encoded: list[dict[str, Any]]) -> list[StepWorkerOutput]:
        """The outputs :meth:`encode_outputs` wrote, as LlamaIndex records again."""
        outputs: list[StepWorkerOutput] = []
        with self.validation_context():
            for entry in encoded:
                data = dict(entry["data"])
                stop_result = data.pop("stop_result", _MISSING)
                requirements = data.pop("requirements", None) if entry["kind"] == "add_waiter" else None
                item: Any = _KINDS[entry["kind"]].model_validate(data)
                if stop_result is not _MISSING:
                    item = StepWorkerResult(result=StopEvent(result=self.deserialize_value(stop_result)))
                if isinstance(item, AddWaiter) and requirements:
                    item = item.model_copy(update={"requirements": self.deserialize_value(requirements)})
                outputs.append(item)
        return outputs


_MISSING = object()


def _type_name(value: Any) -> str:
    cls = type(value)
    return f"<{cls.__module__}.{cls.__qualname__}>"
