"""``send_event_transactional``: write a CloudEvent to the outbox in the caller's transaction."""

from __future__ import annotations

from typing import Any

from edda._context import WorkflowContext
from edda._hookcall import hooks_of, trace_extensions
from edda._run import current_scope
from edda.serialization import to_storable
from edda.storage.records import NewOutboxEvent

__all__ = ["send_event_transactional"]


async def send_event_transactional(
    ctx: WorkflowContext,
    event_type: str,
    event_source: str,
    event_data: Any,
    content_type: str = "application/json",
    *,
    extensions: dict[str, Any] | None = None,
) -> str:
    """Put a CloudEvent in the transactional outbox, atomically with the current activity.

    If the activity rolls back (it raises, or its commit fails), the event does not exist; once the activity
    commits, the outbox relayer (``edda-outbox``) delivers it. ``event_data`` is a dict, a pydantic model or bytes.
    With hooks that give a trace context (``event_trace_context``), it is stored with the event's extension
    attributes (``traceparent``, ``tracestate``) unless ``extensions`` sets them, so the relayer sends it however
    much later, from whichever process.

    Returns:
        The event id (stable across delivery retries, so receivers can deduplicate).

    Raises:
        RuntimeError: called outside an activity or ``ctx.transaction()`` block.
    """
    scope = current_scope.get()
    if scope is None:
        raise RuntimeError(
            "send_event_transactional() must be called inside an @activity (or `async with ctx.transaction():`), "
            "so the event commits atomically with the work that produced it."
        )
    for name, value in (("event_type", event_type), ("event_source", event_source)):
        if not isinstance(value, str) or not value:
            raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    data = to_storable(event_data, path="event_data")
    if isinstance(data, bytes) and content_type == "application/json":
        content_type = "application/octet-stream"
    host = ctx._run.host
    if host.has_hooks:  # the trace context of the activity writing it, kept with the event for the relayer
        extensions = await trace_extensions(hooks_of(host), ctx._run.instance_id, extensions)
    event_id = host.ids.new_id()
    scope.outbox.append(
        NewOutboxEvent(
            event_id=event_id,
            event_type=event_type,
            event_source=event_source,
            data=data,
            content_type=content_type,
            extensions=dict(extensions or {}),
        )
    )

    async def announce() -> None:
        await host.hook("on_event_sent", event_type, event_source, data)

    scope.post_commit.append(announce)
    return event_id
