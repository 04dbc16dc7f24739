"""Published requests are CloudEvents as the official cloudevents SDK reads them."""

from __future__ import annotations

from datetime import UTC, datetime

from cloudevents.core.bindings.http import HTTPMessage, from_http
from cloudevents.core.formats.json import JSONFormat

from edda.storage.records import OutboxEvent
from edda_outbox import encode_event

WHEN = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)


def outbox_event(data: object, content_type: str = "application/json", **extensions: object) -> OutboxEvent:
    return OutboxEvent(
        event_id="evt-1",
        event_type="order.created",
        event_source="order-service",
        data=data,
        content_type=content_type,
        created_at=WHEN,
        instance_id="inst-1",
        extensions=dict(extensions),
    )


def test_json_data_is_structured_mode() -> None:
    headers, body = encode_event(outbox_event({"order_id": "O-1", "total": 9.5, "note": "ünïcode"}, traceid="t1"))
    assert headers["content-type"].startswith("application/cloudevents+json")
    event = from_http(HTTPMessage(headers, body), JSONFormat())
    assert event.get_id() == "evt-1"
    assert event.get_type() == "order.created" and event.get_source() == "order-service"
    assert event.get_time() == WHEN
    assert event.get_datacontenttype() == "application/json"
    assert event.get_data() == {"order_id": "O-1", "total": 9.5, "note": "ünïcode"}
    assert event.get_extension("traceid") == "t1"


def test_bytes_are_binary_mode() -> None:
    headers, body = encode_event(outbox_event(b"\x00\x01\xfe", "application/protobuf", flag=True, region="eu west"))
    assert body == b"\x00\x01\xfe"
    assert headers["ce-region"] == "eu%20west" and headers["ce-flag"] == "true"
    event = from_http(HTTPMessage(headers, body), JSONFormat())
    assert event.get_id() == "evt-1" and event.get_time() == WHEN
    assert event.get_datacontenttype() == "application/protobuf"
    assert event.get_data() == b"\x00\x01\xfe"
    assert event.get_extension("region") == "eu west"


def test_extensions_cannot_override_core_attributes() -> None:
    headers, body = encode_event(outbox_event({"a": 1}, id="forged", type="forged"))
    event = from_http(HTTPMessage(headers, body), JSONFormat())
    assert event.get_id() == "evt-1" and event.get_type() == "order.created"


def test_the_id_is_stable_across_encodings() -> None:
    assert encode_event(outbox_event({"a": 1})) == encode_event(outbox_event({"a": 1}))


def test_non_json_data_is_a_string_in_structured_mode() -> None:
    headers, body = encode_event(outbox_event("plain text", "text/plain"))
    event = from_http(HTTPMessage(headers, body), JSONFormat())
    assert event.get_data() == "plain text" and event.get_datacontenttype() == "text/plain"
