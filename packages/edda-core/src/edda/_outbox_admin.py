"""The outbox seen from the app: the relayer's options, starting the relayer, and the operator's actions (list,
re-send, skip) that the viewer and the ``edda`` command use."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from edda._events import DEFAULT_BROKER_URL
from edda._settings import OutboxOptions, display_url
from edda.clock import Clock
from edda.exceptions import OutboxEventNotFoundError, OutboxStateError
from edda.storage.protocol import Storage
from edda.storage.records import (
    OUTBOX_STATUSES,
    RESENDABLE_OUTBOX_STATUSES,
    SKIPPABLE_OUTBOX_STATUSES,
    OutboxEvent,
)

__all__ = ["OutboxOperations", "start_relayer"]

logger = logging.getLogger("edda")


async def start_relayer(
    storage: Storage, broker_url: str | None, options: OutboxOptions, *, wake_event: Any, worker_id: str, hooks: Any
) -> Any:
    """Start an ``edda_outbox.OutboxRelayer`` publishing to ``broker_url`` (default: the Knative broker ingress)."""
    try:
        from edda_outbox import OutboxRelayer  # pyright: ignore[reportMissingImports]
    except ImportError as exc:
        raise ImportError(
            "outbox_enabled=True needs the edda-outbox package (the relayer that publishes outbox events): "
            "pip install edda-outbox"
        ) from exc
    url = broker_url or DEFAULT_BROKER_URL
    kwargs = options.as_kwargs()
    relayer = OutboxRelayer(storage, url, wake_event=wake_event, worker_id=worker_id, hooks=hooks, **kwargs)
    await relayer.start()
    default = "" if broker_url else " (the default Knative broker ingress: pass broker_url=... to publish elsewhere)"
    logger.info("Outbox relayer started: outbox events are published to %s%s", display_url(url), default)
    return relayer


async def list_outbox_events(storage: Storage, *, status: str | None = None, limit: int = 100) -> list[OutboxEvent]:
    if status is not None and status not in OUTBOX_STATUSES:
        raise ValueError(f"status must be one of {', '.join(sorted(OUTBOX_STATUSES))} or None, got {status!r}")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be a positive int, got {limit!r}")
    return await storage.list_outbox(status=status, limit=limit)


async def resend_outbox_event(storage: Storage, event_id: str, *, now: datetime) -> None:
    if await storage.resend_outbox(event_id, now=now):
        return
    await _explain(storage, event_id, RESENDABLE_OUTBOX_STATUSES, "re-sent")


async def skip_outbox_event(storage: Storage, event_id: str, *, now: datetime) -> None:
    if await storage.skip_outbox(event_id, now=now):
        return
    await _explain(storage, event_id, SKIPPABLE_OUTBOX_STATUSES, "skipped")


async def _explain(storage: Storage, event_id: str, allowed: frozenset[str], action: str) -> None:
    """Raise the error that says why ``event_id`` could not be ``action``."""
    event = await storage.get_outbox_event(event_id)
    if event is None:
        raise OutboxEventNotFoundError(f"No outbox event {event_id!r} (list them with app.list_outbox_events())")
    raise OutboxStateError(
        f"Outbox event {event_id!r} is {event.status}; only {' or '.join(sorted(allowed))} events can be {action}.",
        event_id=event_id,
        status=event.status,
    )


class OutboxOperations:
    """The operator's outbox actions of :class:`edda.EddaApp` (the viewer and the ``edda`` command use them)."""

    clock: Clock
    _worker: Any

    @property
    def storage(self) -> Storage:
        raise NotImplementedError

    async def list_outbox_events(self, *, status: str | None = None, limit: int = 100) -> list[OutboxEvent]:
        """Outbox events in commit order, optionally only those with ``status`` (``pending``, ``failed``, ...)."""
        return await list_outbox_events(self.storage, status=status, limit=limit)

    async def resend_outbox_event(self, event_id: str) -> None:
        """Send a ``failed``, ``expired`` or ``skipped`` outbox event again, ahead of its instance's later events.

        Raises:
            OutboxEventNotFoundError: no such event.
            OutboxStateError: it is ``pending`` (being sent) or ``published``.
        """
        await resend_outbox_event(self.storage, event_id, now=self.clock.now())
        self._nudge_relayer()

    async def skip_outbox_event(self, event_id: str) -> None:
        """Give up on a ``pending`` or ``failed`` outbox event, so the later events of its instance go out.

        Raises:
            OutboxEventNotFoundError: no such event.
            OutboxStateError: it is already ``published``, ``expired`` or ``skipped``.
        """
        await skip_outbox_event(self.storage, event_id, now=self.clock.now())
        self._nudge_relayer()

    def _nudge_relayer(self) -> None:
        if self._worker is not None:
            self._worker.outbox_wake.set()
