"""Channels: durable messaging between workflows (and from the outside world into workflows).

Modes, per channel: ``broadcast`` (every subscriber gets every message published after it subscribed),
``competing`` (each message goes to exactly one subscriber; messages wait in the channel until one takes them) and
``direct`` (only messages sent to this instance with ``send_to``). Messages are stored, so a message published
while its receiver is busy is received at the receiver's next ``receive``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from edda._client import Client, current_client
from edda._context import WorkflowContext
from edda._run import RunState, current_scope
from edda._waits import check_channel_name, message_payload, receive_step
from edda.clock import IdSource
from edda.serialization import to_storable
from edda.storage.records import HistoryEventType, NewHistoryEvent, NewMessage, Subscribe, Unsubscribe

__all__ = [
    "ChannelMessage",
    "join_group",
    "leave_group",
    "publish",
    "receive",
    "send_to",
    "subscribe",
    "unsubscribe",
    "wait_message",
]

_MODES = ("broadcast", "competing", "direct")


@dataclass(frozen=True)
class ChannelMessage:
    """A message received from a channel.

    Attributes:
        id: the message's unique id.
        channel: the channel it was received on.
        data: the payload (dict or bytes).
        metadata: metadata given when publishing.
        published_at: when it was published.
    """

    id: str
    channel: str
    data: Any
    metadata: dict[str, Any] = field(default_factory=dict)
    published_at: datetime | None = None


def _workflow_run(ctx: WorkflowContext, what: str) -> RunState:
    if not isinstance(ctx, WorkflowContext):
        raise TypeError(f"{what}() takes the WorkflowContext as its first argument, got {type(ctx).__name__}")
    if current_scope.get() is not None:
        raise RuntimeError(f"{what}() belongs in workflow code, not inside an activity.")
    return ctx._run


async def subscribe(ctx: WorkflowContext, channel: str, mode: str = "broadcast") -> None:
    """Subscribe this instance to ``channel`` (``"broadcast"``, ``"competing"`` or ``"direct"``).

    Subscriptions survive ``ctx.recur()`` and end when the instance finishes.

    Raises:
        ChannelModeConflictError: the channel is already used with the other of broadcast/competing.
        ValueError: unknown mode or bad channel name.
    """
    run = _workflow_run(ctx, "subscribe")
    check_channel_name(channel)
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {', '.join(_MODES)}; got {mode!r}")
    step_id = run.next_auto_id("subscribe")
    if run.claim_step(
        step_id, event_types=frozenset({HistoryEventType.CHANNEL_SUBSCRIBED}), name=channel, name_key="channel"
    ):
        return
    await run.check_new_step(step_id, f"subscribe to channel {channel!r}")
    await run.flush(
        extra=[NewHistoryEvent(step_id, HistoryEventType.CHANNEL_SUBSCRIBED, {"channel": channel, "mode": mode})],
        subscriptions=(Subscribe(channel, mode),),
    )


async def unsubscribe(ctx: WorkflowContext, channel: str) -> None:
    """Stop receiving from ``channel`` (instances are unsubscribed from everything when they finish anyway)."""
    run = _workflow_run(ctx, "unsubscribe")
    check_channel_name(channel)
    step_id = run.next_auto_id("unsubscribe")
    if run.claim_step(
        step_id, event_types=frozenset({HistoryEventType.CHANNEL_UNSUBSCRIBED}), name=channel, name_key="channel"
    ):
        return
    await run.check_new_step(step_id, f"unsubscribe from channel {channel!r}")
    await run.flush(
        extra=[NewHistoryEvent(step_id, HistoryEventType.CHANNEL_UNSUBSCRIBED, {"channel": channel})],
        subscriptions=(Unsubscribe(channel),),
    )


async def receive(
    ctx: WorkflowContext, channel: str, timeout_seconds: float | None = None, message_id: str | None = None
) -> ChannelMessage:
    """Wait durably for the next message on ``channel`` and return it.

    Without a prior ``subscribe``, the first ``receive`` subscribes with the channel's mode (broadcast if it has
    none). Messages sent to this instance with ``send_to`` are received whatever the mode.

    Args:
        timeout_seconds: give up after this long (raises :class:`edda.EventTimeoutError`, also a ``TimeoutError``).
        message_id: explicit step id for this receive (defaults to ``receive:N``).
    """
    event = await receive_step(
        ctx, "receive", channel, timeout_seconds=timeout_seconds, step_id=message_id, counter="receive", kind="message"
    )
    published = event.event_data.get("published_at")
    return ChannelMessage(
        id=event.event_data["message_id"],
        channel=channel,
        data=message_payload(event),
        metadata=dict(event.event_data.get("metadata") or {}),
        published_at=datetime.fromisoformat(published) if published else None,
    )


def _new_message(
    ids: IdSource, channel: str, data: Any, metadata: dict[str, Any] | None, target: str | None
) -> NewMessage:
    check_channel_name(channel)
    if metadata is not None and not isinstance(metadata, dict):
        raise ValueError(f"metadata must be a dict or None, got {type(metadata).__name__}")
    return NewMessage(
        message_id=ids.new_id(),
        channel=channel,
        data=to_storable(data, path="message data"),
        metadata=to_storable(dict(metadata or {}), path="message metadata"),
        target_instance_id=target,
    )


async def _publish_from_workflow(
    ctx: WorkflowContext, channel: str, data: Any, metadata: dict[str, Any] | None, target: str | None, what: str
) -> tuple[str, bool]:
    run = ctx._run
    scope = current_scope.get()
    message = _new_message(run.host.ids, channel, data, metadata, target)
    if scope is not None:  # inside an activity: published atomically with the activity's commit
        scope.messages.append(message)
        return message.message_id, True
    step_id = run.next_auto_id(what)
    recorded = run.claim_step(
        step_id, event_types=frozenset({HistoryEventType.MESSAGE_PUBLISHED}), name=channel, name_key="channel"
    )
    if recorded is not None:
        return recorded.event_data["message_id"], bool(recorded.event_data.get("woken"))
    await run.check_new_step(step_id, f"publish to channel {channel!r}")
    outcome = await run.flush(
        extra=[
            NewHistoryEvent(
                step_id,
                HistoryEventType.MESSAGE_PUBLISHED,
                {"channel": channel, "message_id": message.message_id, "target_instance_id": target},
            )
        ],
        extra_messages=[message],
    )
    woken = bool(outcome is not None and target is not None and target in outcome.woken)
    return message.message_id, woken


async def publish(
    ctx_or_app: Any,
    channel: str,
    data: Any,
    metadata: dict[str, Any] | None = None,
    *,
    target_instance_id: str | None = None,
    worker_id: str | None = None,
) -> str:
    """Publish ``data`` (dict, pydantic model or bytes) to ``channel``; returns the message id.

    From workflow code it is a recorded step (published once, not again on replay); inside an activity it commits
    with the activity; from outside pass the :class:`EddaApp` (or its storage).

    Args:
        target_instance_id: deliver only to this instance (a direct message).
        worker_id: accepted for compatibility; unused.
    """
    if isinstance(ctx_or_app, WorkflowContext):
        message_id, _ = await _publish_from_workflow(ctx_or_app, channel, data, metadata, target_instance_id, "publish")
        return message_id
    is_app = callable(getattr(ctx_or_app, "publish_message", None))
    app: Client = ctx_or_app if is_app else current_client()
    if not is_app and ctx_or_app is not app.storage:
        raise TypeError("publish() takes a WorkflowContext, an EddaApp, or the storage of the running EddaApp")
    message = _new_message(app.ids, channel, data, metadata, target_instance_id)
    record, _woken = await app.publish_message(message)
    return record.message_id


async def send_to(
    ctx: WorkflowContext,
    instance_id: str,
    data: Any = None,
    channel: str = "__direct__",
    metadata: dict[str, Any] | None = None,
) -> bool:
    """Send a direct message to one workflow instance, received with ``receive(ctx, channel)``.

    Returns:
        True if the target was waiting on that channel and has been woken (the message is stored either way).
    """
    if not isinstance(instance_id, str) or not instance_id:
        raise ValueError(f"instance_id must be a non-empty string, got {instance_id!r}")
    if not isinstance(ctx, WorkflowContext):
        raise TypeError(f"send_to() takes the WorkflowContext as its first argument, got {type(ctx).__name__}")
    _, woken = await _publish_from_workflow(ctx, channel, data, metadata, instance_id, "send_to")
    return woken


async def join_group(ctx: WorkflowContext, group: str) -> None:
    """The older name of a broadcast subscription: ``subscribe(ctx, group, mode="broadcast")``."""
    await subscribe(ctx, group, mode="broadcast")


async def leave_group(ctx: WorkflowContext, group: str) -> None:
    """The older name of ``unsubscribe(ctx, group)``."""
    await unsubscribe(ctx, group)


wait_message = receive
"""The older name of :func:`receive` (documented alias)."""
