"""Turning an HTTP request into a validated CloudEvent with the official ``cloudevents`` SDK.

Parsing is pure (no I/O, nothing stored), so every failure here is the sender's and is answered 400 (the CloudEvents
HTTP binding's status for a request that is not a valid CloudEvent, whatever the reason). The SDK
does the CloudEvents work (structured and binary modes, attribute validation, ``data_base64``, percent-decoding of
``ce-*`` headers); on top of it this module is stricter where storing the event durably needs it:

- ``specversion``, ``id``, ``source`` and ``type`` must be sent (the SDK would invent ``specversion`` and ``id``);
  only CloudEvents 1.0 is accepted.
- Binary-mode bodies declared as JSON must be valid JSON (the SDK would silently keep them as a string); other
  ``text/*`` bodies become ``str`` and everything else stays ``bytes``.
- Extension values must be strings, 32-bit integers or booleans (the CloudEvents type system); ``eddainstanceid``
  must be a non-empty string.
- String attributes hold no character the CloudEvents type system disallows: control characters (U+0000 to U+001F,
  U+007F to U+009F), Unicode noncharacters and lone surrogates. (NUL in ``type`` or ``eddainstanceid`` once reached
  PostgreSQL and came back as a retryable 500; a sender would retry it for ever.)
- Data must be storable: finite numbers, no lone UTF-16 surrogates, nested at most ``MAX_DATA_DEPTH`` levels.
"""

from __future__ import annotations

import json
import math
import re
from enum import Enum
from typing import Any

from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.bindings.http import HTTPMessage, from_binary, from_structured
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from edda_asgi._headers import Headers, content_type_param, media_type
from edda_asgi._problems import HTTPProblem

__all__ = ["MAX_DATA_DEPTH", "Mode", "content_mode", "parse_cloudevent"]

STRUCTURED_MEDIA_TYPE = "application/cloudevents+json"
MAX_DATA_DEPTH = 100
MAX_INSTANCE_ID = 255
REQUIRED_ATTRIBUTES = ("specversion", "id", "source", "type")
CORE_ATTRIBUTES = frozenset({*REQUIRED_ATTRIBUTES, "time", "datacontenttype", "dataschema", "subject"})
_INT32 = range(-(2**31), 2**31)
_NONCHARACTERS = "\ufdd0-\ufdef" + "".join(chr(plane << 16 | 0xFFFE) + chr(plane << 16 | 0xFFFF) for plane in range(17))
# What the CloudEvents type system does not allow in a String: control characters, lone surrogates, noncharacters.
_NOT_IN_A_STRING = re.compile(f"[\x00-\x1f\x7f-\x9f\ud800-\udfff{_NONCHARACTERS}]")


class Mode(Enum):
    """The CloudEvents HTTP content mode of a request."""

    STRUCTURED = "structured"
    BINARY = "binary"


def invalid(message: str, error_type: str = "InvalidCloudEvent") -> HTTPProblem:
    return HTTPProblem(400, message, error_type=error_type)


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def content_mode(headers: Headers) -> Mode:
    """Decide the content mode from the headers alone, before any of the body is read.

    Raises:
        HTTPProblem: 400 for batched or non-JSON structured events (``UnsupportedMediaType``) and for requests that
            are no CloudEvent at all (``NotACloudEvent``).
    """
    content_type = headers.get("content-type")
    media = media_type(content_type)
    if media == STRUCTURED_MEDIA_TYPE:
        return Mode.STRUCTURED
    if media.startswith("application/cloudevents"):
        raise invalid(
            f"Content type {media!r} is not supported: send one event per request, structured as "
            f"{STRUCTURED_MEDIA_TYPE!r} or in binary mode (ce-* headers)",
            "UnsupportedMediaType",
        )
    if any(name.startswith("ce-") for name in headers.names()):
        return Mode.BINARY
    raise invalid(
        f"Not a CloudEvent: content type {media or 'none'!r} without ce-* headers. Send "
        f"Content-Type: {STRUCTURED_MEDIA_TYPE} (structured mode) or the attributes as ce-* headers (binary mode).",
        "NotACloudEvent",
    )


class _DataFormat(JSONFormat):
    """The SDK's JSON format, with binary-mode data read strictly by its declared content type."""

    def read_data(self, body: bytes, datacontenttype: str | None) -> Any:
        if not body:
            return None
        media = media_type(datacontenttype) or JSONFormat.DEFAULT_CONTENT_TYPE
        if JSONFormat.JSON_CONTENT_TYPE_PATTERN.match(media):
            return json.loads(body.decode("utf-8"))
        if media.startswith("text/"):
            charset = content_type_param(datacontenttype, "charset") or "utf-8"
            try:
                return body.decode(charset)
            except LookupError:
                raise invalid(f"Unknown charset {_short(charset)} in the Content-Type", "InvalidEncoding") from None
        return bytes(body)


_FORMAT = _DataFormat()


def _new_event(attributes: dict[str, Any], data: Any) -> BaseCloudEvent:
    missing = [name for name in REQUIRED_ATTRIBUTES if name not in attributes]
    if missing:
        raise invalid(f"CloudEvent is missing required attribute(s): {', '.join(missing)}")
    if attributes["specversion"] != "1.0":
        raise invalid(
            f"specversion {_short(attributes['specversion'])} is not supported; send CloudEvents 1.0 "
            f'(specversion "1.0")',
            "UnsupportedSpecVersion",
        )
    return CloudEvent(attributes, data)


def parse_cloudevent(mode: Mode, headers: Headers, body: bytes) -> BaseCloudEvent:
    """Parse and validate the CloudEvent carried by a request.

    Raises:
        HTTPProblem: 400 saying what is wrong with it.
    """
    try:
        if mode is Mode.STRUCTURED:
            message = HTTPMessage(headers={"content-type": STRUCTURED_MEDIA_TYPE}, body=body)
            event = from_structured(message, _FORMAT, _new_event)
        else:
            event = from_binary(HTTPMessage(headers=headers.binary_attributes(), body=body), _FORMAT, _new_event)
    except HTTPProblem:
        raise
    except UnicodeDecodeError:
        raise invalid(
            "The body is not valid text in its encoding (UTF-8 unless a charset says otherwise)", "InvalidEncoding"
        ) from None
    except json.JSONDecodeError as exc:
        raise invalid(f"The body is not valid JSON: {exc}", "InvalidJSON") from None
    except RecursionError:
        raise invalid(f"The body nests deeper than {MAX_DATA_DEPTH} levels", "InvalidJSON") from None
    except AttributeError:
        raise invalid("A structured-mode body must be a JSON object holding the event's attributes") from None
    except Exception as exc:  # anything else the SDK rejects: attribute types and values, base64, timestamps
        raise invalid(f"Invalid CloudEvent: {str(exc)[:500]}") from None
    _check_attributes(event.get_attributes())
    _check_data(event.get_data())
    return event


def _check_text(value: str, where: str) -> None:
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise invalid(f"{where} contains a lone UTF-16 surrogate, which is not text", "InvalidEncoding") from None


def _check_string_attribute(name: str, value: str) -> None:
    found = _NOT_IN_A_STRING.search(value)
    if found is None:
        return
    code = ord(found.group())
    kind = (
        "a control character"
        if code <= 0x9F
        else "a lone UTF-16 surrogate"
        if 0xD800 <= code <= 0xDFFF
        else "a Unicode noncharacter"
    )
    raise invalid(
        f"Attribute {name!r} holds {kind} (U+{code:04X}), which the CloudEvents type system does not allow in a "
        f"String; remove it",
        "InvalidEncoding" if kind != "a control character" else "InvalidCloudEvent",
    )


def _check_attributes(attributes: dict[str, Any]) -> None:
    for name, value in attributes.items():
        if isinstance(value, str):
            _check_string_attribute(name, value)
        if name in CORE_ATTRIBUTES:
            continue  # typed and validated by the SDK
        if isinstance(value, bool | str):
            continue
        if isinstance(value, int) and value in _INT32:
            continue
        raise invalid(
            f"Extension attribute {name!r} is {_short(value)}; CloudEvents extension values are strings, "
            f"32-bit integers or booleans"
        )
    target = attributes.get("eddainstanceid")
    if target is not None and (not isinstance(target, str) or not 1 <= len(target) <= MAX_INSTANCE_ID):
        raise invalid(f"eddainstanceid must be a workflow instance id (a string of 1 to {MAX_INSTANCE_ID} characters)")


def _check_data(data: Any) -> None:
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth >= MAX_DATA_DEPTH:
                raise invalid(f"The event data nests deeper than {MAX_DATA_DEPTH} levels", "InvalidJSON")
            if isinstance(value, dict):
                for key, item in value.items():
                    _check_text(key, "A key of the event data")
                    stack.append((item, depth + 1))
            else:
                stack.extend((item, depth + 1) for item in value)
        elif isinstance(value, str):
            _check_text(value, "The event data")
        elif isinstance(value, float) and not math.isfinite(value):
            raise invalid(f"The event data holds {value!r}; JSON numbers must be finite", "InvalidJSON")
