"""CloudEvents into and out of workflows: ``wait_event``, ``ReceivedEvent``, ``send_event``.

An event of type T is a message on channel T whose metadata holds the CloudEvents attributes. ``wait_event`` is a
``receive`` on that channel (subscribing in broadcast mode if the workflow has not subscribed yet, so every workflow
waiting for T gets each event of type T published while it waits); an event carrying the ``eddainstanceid``
extension is delivered to that instance only.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from edda._client import Client, current_client
from edda._context import WorkflowContext
from edda._hookcall import hooks_of, trace_extensions
from edda._run import RunState, current_run, current_scope
from edda._waits import message_payload, receive_step
from edda.clock import SystemClock, UuidIdSource
from edda.serialization import to_storable
from edda.storage.records import HistoryEventType, NewHistoryEvent

__all__ = ["EventMetadata", "ReceivedEvent", "cloudevent_parts", "send_event", "wait_event"]

_SENT = frozenset({HistoryEventType.EVENT_SENT})
CORE_ATTRIBUTES = ("specversion", "type", "source", "id", "time", "datacontenttype", "dataschema", "subject")


@dataclass(frozen=True)
class EventMetadata:
    """The CloudEvents context attributes of a received event."""

    type: str
    source: str
    id: str
    time: str | None = None
    datacontenttype: str | None = None
    subject: str | None = None
    dataschema: str | None = None
    specversion: str = "1.0"


@dataclass(frozen=True)
class ReceivedEvent:
    """An event received by ``wait_event``: ``data`` (dict, bytes, or the ``model`` asked for), ``metadata``
    (type, source, id, time, ...) and ``extensions``. The metadata fields are also attributes of the event itself
    (``event.source`` is ``event.metadata.source``)."""

    data: Any
    metadata: EventMetadata
    extensions: dict[str, Any] = field(default_factory=dict)

    @property
    def type(self) -> str:
        return self.metadata.type

    @property
    def source(self) -> str:
        return self.metadata.source

    @property
    def id(self) -> str:
        return self.metadata.id

    @property
    def time(self) -> str | None:
        return self.metadata.time

    @property
    def datacontenttype(self) -> str | None:
        return self.metadata.datacontenttype

    @property
    def subject(self) -> str | None:
        return self.metadata.subject


async def wait_event(
    ctx: WorkflowContext,
    event_type: str,
    timeout_seconds: float | None = None,
    model: type[Any] | None = None,
    event_id: str | None = None,
) -> ReceivedEvent:
    """Wait durably for a CloudEvent of ``event_type``; the worker is released meanwhile.

    Args:
        timeout_seconds: give up after this long: raises :class:`edda.EventTimeoutError` (catchable; replayed the
            same way).
        model: a pydantic model class to validate ``data`` into.
        event_id: explicit step id for this wait (defaults to ``wait_event:N``).
    """
    event = await receive_step(
        ctx,
        "wait_event",
        event_type,
        timeout_seconds=timeout_seconds,
        step_id=event_id,
        counter="wait_event",
        kind="event",
    )
    meta = dict(event.event_data.get("metadata") or {})
    extensions = dict(meta.pop("extensions", None) or {})
    data = message_payload(event)
    if model is not None:
        data = model.model_validate(data)
    received = ReceivedEvent(
        data=data,
        metadata=EventMetadata(
            type=meta.get("type", event_type),
            source=meta.get("source", ""),
            id=meta.get("id", event.event_data.get("message_id", "")),
            time=meta.get("time"),
            datacontenttype=meta.get("datacontenttype"),
            subject=meta.get("subject"),
            dataschema=meta.get("dataschema"),
            specversion=meta.get("specversion", "1.0"),
        ),
        extensions=extensions,
    )
    run = ctx._run
    if run.host.has_hooks and run.results.get(event.activity_id) is not event:  # received now, not replayed
        await run.host.hook("on_cloudevent_received", run.instance_id, received)
    await run.host.hook("on_event_received", run.instance_id, event_type, data)
    return received


def cloudevent_parts(event: Any) -> tuple[dict[str, Any], dict[str, Any], Any]:
    """Split a CloudEvent (the ``cloudevents`` SDK's, or a plain mapping of attributes plus ``data``) into its core
    attributes, its extensions and its data."""
    attributes: dict[str, Any]
    data: Any
    if isinstance(event, dict):
        attributes = {str(k): v for k, v in event.items() if k not in ("data", "data_base64")}
        data = event.get("data")
    else:
        getter: Any = getattr(event, "get_attributes", None)
        raw: Any = getter() if callable(getter) else getattr(event, "_attributes", {})
        attributes = {str(k): v for k, v in dict(raw).items()}
        get_data: Any = getattr(event, "get_data", None)
        data = get_data() if callable(get_data) else getattr(event, "data", None)
    missing = [a for a in ("type", "source", "id") if not attributes.get(a)]
    if missing:
        raise ValueError(f"CloudEvent is missing required attribute(s): {', '.join(missing)}")
    core = {k: attributes[k] for k in CORE_ATTRIBUTES if attributes.get(k) is not None}
    moment = core.get("time")
    if isinstance(moment, datetime):
        core["time"] = moment.isoformat()
    extensions = {k: v for k, v in attributes.items() if k not in CORE_ATTRIBUTES}
    return core, extensions, data


DEFAULT_BROKER_URL = "http://broker-ingress.knative-eventing.svc.cluster.local"
"""Where ``send_event`` posts when no broker URL is given and no app is running (the seed's documented default)."""

# Ids of events sent from workflow code are uuid5(namespace, "<instance>/<iteration>/<step>"): the same on a replay,
# so a receiver can drop the duplicate a crash between sending and recording may cause.
_EVENT_ID_NAMESPACE = uuid.UUID("8a3c4e4e-6f1d-5d2b-9f57-3c2b7e0e5d11")


async def send_event(
    event_type: str,
    source: str,
    data: Any,
    broker_url: str | None = None,
    datacontenttype: str | None = None,
    *,
    extensions: dict[str, Any] | None = None,
) -> str:
    """Send a CloudEvent; returns its id.

    Where it goes: to ``broker_url`` if given, else to the running app's ``broker_url``, as an HTTP POST (structured
    content mode; binary content mode when ``data`` is bytes). With neither, and an app running in this process,
    it is delivered to this app directly (``app.handle_cloudevent``): to waiting workflows and event handlers.
    With no app running it is posted to :data:`DEFAULT_BROKER_URL`.

    In workflow code it is a recorded step: it is sent once, and a replay returns the recorded id instead of
    sending again. The event id is derived from the instance and the step, so if a crash falls between sending and
    recording, the event sent again on replay has the same id and receivers can deduplicate it. Inside an activity
    it is a plain send, retried with the activity; prefer ``send_event_transactional`` there.

    With hooks that give a trace context (``event_trace_context``, e.g. ``OpenTelemetryHooks``), the event carries
    it as the ``traceparent``/``tracestate`` extension attributes, unless ``extensions`` sets them.

    Raises:
        urllib.error.URLError: the broker could not be reached or answered with an error status.
        ValueError: ``data`` cannot be stored as JSON or bytes.
    """
    run = current_run.get()
    if run is not None and current_scope.get() is None:
        return await _send_event_step(run, event_type, source, data, broker_url, datacontenttype, extensions)
    try:
        app: Client | None = current_client()
    except RuntimeError:
        app = None
    hooks = hooks_of(run.host) if run is not None else hooks_of(app)
    if hooks is not None:  # inside an activity, or outside workflows: the trace context of the code sending it
        extensions = await trace_extensions(hooks, None if run is None else run.instance_id, extensions)
    if app is None:
        event_id, now = UuidIdSource().new_id(), SystemClock().now()
        url = broker_url or DEFAULT_BROKER_URL
        local = None
    else:
        event_id, now = app.ids.new_id(), app.clock.now()
        url, local = broker_url or app.broker_url, app.deliver_event
    await _deliver(local, url, event_type, source, data, datacontenttype, extensions, event_id, now)
    return event_id


async def _send_event_step(
    run: RunState,
    event_type: str,
    source: str,
    data: Any,
    broker_url: str | None,
    datacontenttype: str | None,
    extensions: dict[str, Any] | None,
) -> str:
    step_id = run.next_auto_id("send_event")
    recorded = run.claim_step(step_id, event_types=_SENT, name=event_type, name_key="event_type")
    if recorded is not None:
        return str(recorded.event_data["event_id"])
    await run.check_new_step(step_id, f"send_event {event_type!r}")
    host = run.host
    if host.has_hooks:
        extensions = await trace_extensions(hooks_of(host), run.instance_id, extensions)
    event_id = str(uuid.uuid5(_EVENT_ID_NAMESPACE, f"{run.instance_id}/{run.iteration}/{step_id}"))
    url = broker_url or host.broker_url
    await _deliver(
        host.deliver_event, url, event_type, source, data, datacontenttype, extensions, event_id, run.host.clock.now()
    )
    await run.commit_now(
        [
            NewHistoryEvent(
                step_id, HistoryEventType.EVENT_SENT, {"event_type": event_type, "source": source, "event_id": event_id}
            )
        ]
    )
    return event_id


async def _deliver(
    local: Callable[[dict[str, Any]], Awaitable[None]] | None,
    url: str | None,
    event_type: str,
    source: str,
    data: Any,
    datacontenttype: str | None,
    extensions: dict[str, Any] | None,
    event_id: str,
    now: datetime,
) -> None:
    payload = to_storable(data, path="event data")
    attributes: dict[str, Any] = {
        "specversion": "1.0",
        "type": event_type,
        "source": source,
        "id": event_id,
        "time": now.isoformat(),
    }
    attributes |= dict(extensions or {})
    if url is None:
        assert local is not None  # url is None only with an app to deliver to
        content_type = datacontenttype or (
            "application/octet-stream" if isinstance(payload, bytes) else "application/json"
        )
        # Handlers run to completion here; they are not part of the sending workflow (a send_event in a handler is
        # not a step of that workflow's history).
        token = current_run.set(None)
        try:
            await local(attributes | {"datacontenttype": content_type, "data": payload})
        finally:
            current_run.reset(token)
        return
    if isinstance(payload, bytes):
        headers = {f"ce-{k}": str(v) for k, v in attributes.items()}
        headers["content-type"] = datacontenttype or "application/octet-stream"
        body = payload
    else:
        headers = {"content-type": "application/cloudevents+json"}
        body = json.dumps(
            attributes | {"datacontenttype": datacontenttype or "application/json", "data": payload}
        ).encode()
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    await asyncio.to_thread(_post, request)


def _post(request: urllib.request.Request) -> None:
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()
