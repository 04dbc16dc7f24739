"""The event an ``@app.on_event`` handler receives: a read-only CloudEvent, its attributes and its data.

Handlers written for Edda 0.16.2 received the cloudevents SDK's v1 ``CloudEvent`` and read it like a mapping of
attributes plus a payload: ``event["type"]``, ``event.get("subject")``, ``"type" in event``, ``event.data``,
``event.get_data()``, ``event.get_attributes()``. This class keeps exactly that surface, adds the SDK 2.x getters
(``get_type()``, ``get_id()``, ...), and imports nothing but the standard library, whatever shape the event arrived
in (an SDK 1.x or 2.x object from the HTTP transport, or a plain mapping from ``send_event``).

Rationale: passing the SDK's own object through would tie edda-core to one SDK major version (2.x dropped the
mapping access, so ``event["type"]`` raised ``TypeError``), and a bare ``dict`` has no ``.data``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any

__all__ = ["CloudEvent"]

REQUIRED = ("id", "source", "type")


class CloudEvent(Mapping[str, Any]):
    """A CloudEvent as delivered to ``on_event`` handlers: a read-only mapping of its attributes, plus its data.

    ``event["type"]``, ``event["source"]``, ``event["id"]``, ``event.get("subject")`` and ``"type" in event`` read
    attributes (core ones and extensions alike, by their lower-case CloudEvents names; ``time`` is an ISO 8601
    string); ``event.data`` and ``event.get_data()`` return the payload (JSON value, ``str`` or ``bytes``).

    Args:
        attributes: the event's attributes; ``id``, ``source`` and ``type`` are required, ``specversion``
            defaults to ``"1.0"``.
        data: the payload.

    Raises:
        ValueError: a required attribute is missing or empty.
    """

    __slots__ = ("_attributes", "_data")

    def __init__(self, attributes: Mapping[str, Any], data: Any = None) -> None:
        attrs: dict[str, Any] = {}
        for key, value in attributes.items():
            if value is None:
                continue
            attrs[str(key).lower()] = value.isoformat() if isinstance(value, datetime) else value
        missing = [name for name in REQUIRED if not attrs.get(name)]
        if missing:
            raise ValueError(f"CloudEvent is missing required attribute(s): {', '.join(missing)}")
        attrs.setdefault("specversion", "1.0")
        self._attributes = attrs
        self._data = data

    # -- the cloudevents SDK v1 surface ---------------------------------------------------------------------------

    @property
    def data(self) -> Any:
        """The payload: a JSON value, ``str`` or ``bytes`` (``None`` when the event carries none)."""
        return self._data

    def get_data(self) -> Any:
        """The payload (same as :attr:`data`)."""
        return self._data

    def get_attributes(self) -> Mapping[str, Any]:
        """A read-only view of every attribute, extensions included."""
        return MappingProxyType(self._attributes)

    def __getitem__(self, key: str) -> Any:
        return self._attributes[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._attributes)

    def __len__(self) -> int:
        return len(self._attributes)

    def __contains__(self, key: object) -> bool:
        return key in self._attributes

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CloudEvent):
            return NotImplemented
        return self._attributes == other._attributes and self._data == other._data

    def __repr__(self) -> str:
        return f"CloudEvent({self._attributes!r}, data={self._data!r})"

    # -- the cloudevents SDK 2.x getters ----------------------------------------------------------------------------

    def get_id(self) -> str:
        return self._attributes["id"]

    def get_source(self) -> str:
        return self._attributes["source"]

    def get_type(self) -> str:
        return self._attributes["type"]

    def get_specversion(self) -> str:
        return self._attributes["specversion"]

    def get_subject(self) -> str | None:
        return self._attributes.get("subject")

    def get_time(self) -> datetime | None:
        """The ``time`` attribute as a ``datetime`` (``event["time"]`` is the ISO 8601 string)."""
        moment = self._attributes.get("time")
        return datetime.fromisoformat(moment) if isinstance(moment, str) else None

    def get_datacontenttype(self) -> str | None:
        return self._attributes.get("datacontenttype")

    def get_dataschema(self) -> str | None:
        return self._attributes.get("dataschema")

    def get_extension(self, name: str) -> Any:
        """The value of extension attribute ``name``, or ``None``."""
        return self._attributes.get(name)
