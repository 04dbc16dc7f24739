"""Outbox events as CloudEvents over HTTP (CloudEvents HTTP protocol binding 1.0).

JSON data travels in structured mode (``application/cloudevents+json``: attributes and data in one JSON body); bytes
travel in binary mode (attributes as ``ce-*`` headers, the bytes untouched as the body), so nothing is base64-encoded.
The CloudEvent ``id`` is the outbox event's ``event_id``, identical on every retry, so receivers can deduplicate.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from urllib.parse import quote

from edda.storage.records import OutboxEvent

__all__ = ["STRUCTURED_CONTENT_TYPE", "encode_event"]

STRUCTURED_CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"
CORE_ATTRIBUTES = frozenset(
    {"specversion", "id", "source", "type", "time", "datacontenttype", "dataschema", "subject", "data", "data_base64"}
)
# HTTP binding 3.1.3.2: printable ASCII goes as is, except space, double quote and percent, which are percent-encoded
# (as is everything outside printable ASCII, in UTF-8).
_HEADER_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in ' "%')


def _timestamp(moment: datetime) -> str:
    text = moment.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _header_value(value: Any) -> str:
    if isinstance(value, bool):
        value = "true" if value else "false"
    elif isinstance(value, datetime):
        value = _timestamp(value)
    return quote(str(value), safe=_HEADER_SAFE)


def encode_event(event: OutboxEvent) -> tuple[dict[str, str], bytes]:
    """The headers and body of the HTTP request that publishes ``event``.

    Raises:
        TypeError, ValueError: the data cannot be encoded as JSON (it was stored, so this means a corrupt row).
    """
    attributes: dict[str, Any] = {
        "specversion": "1.0",
        "id": event.event_id,
        "source": event.event_source,
        "type": event.event_type,
        "time": _timestamp(event.created_at),
    }
    extensions = {k: v for k, v in (event.extensions or {}).items() if k not in CORE_ATTRIBUTES}
    if isinstance(event.data, bytes | bytearray):
        headers = {f"ce-{name}": _header_value(value) for name, value in (extensions | attributes).items()}
        headers["content-type"] = event.content_type or "application/octet-stream"
        return headers, bytes(event.data)
    body: dict[str, Any] = extensions | attributes
    body["datacontenttype"] = event.content_type or "application/json"
    if event.data is not None:
        body["data"] = event.data
    payload = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
    return {"content-type": STRUCTURED_CONTENT_TYPE}, payload
