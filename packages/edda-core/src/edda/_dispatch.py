"""Incoming CloudEvents: stored as channel messages, then handed to ``on_event`` handlers and event-handler workflows.

Beside :mod:`edda._events` (what a workflow does with events); this is what the app does when one arrives.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from edda._client import Client
from edda._cloudevent import CloudEvent
from edda._events import cloudevent_parts
from edda._hookcall import call_hook, hooks_of
from edda._workflow import Workflow, all_workflows
from edda.serialization import to_storable
from edda.storage.records import NewMessage

__all__ = ["EventDispatcher"]

logger = logging.getLogger("edda")


class EventDispatcher:
    """The ``on_event`` handlers of one app, and the delivery of CloudEvents to them and to waiting workflows.

    Args:
        client: the app (publishes the message, starts event-handler workflows).
        spawn: runs a background job and keeps a reference to it until it is done.
    """

    def __init__(self, client: Client, spawn: Callable[[Awaitable[None]], None]) -> None:
        self._client = client
        self._spawn = spawn
        self._handlers: dict[str, list[Callable[[CloudEvent], Any]]] = {}

    def add_handler(self, event_type: str, handler: Callable[[CloudEvent], Any]) -> None:
        self._handlers.setdefault(event_type, []).append(handler)

    async def deliver(self, event: Any, *, wait: bool = False) -> None:
        """Store ``event`` as a message on the channel named by its type (addressed to its ``eddainstanceid``, if
        any), then run its handlers and start its event-handler workflows (in the background unless ``wait``).

        Raises:
            ValueError: the event lacks ``type``, ``source`` or ``id``, or its data cannot be stored.
        """
        core, extensions, data = cloudevent_parts(event)
        target = extensions.get("eddainstanceid")
        message = NewMessage(
            message_id=self._client.ids.new_id(),
            channel=core["type"],
            data=to_storable(data, path="event data"),
            metadata=to_storable(dict(core) | {"extensions": extensions}),
            target_instance_id=str(target) if target else None,
        )
        await self._client.publish_message(message)
        jobs: list[Coroutine[Any, Any, None]] = []
        handlers = self._handlers.get(core["type"])
        if handlers:
            delivered = CloudEvent(core | extensions, data)  # one read-only view, whatever shape `event` had
            jobs = [self._call_handler(h, delivered) for h in handlers]
        for wf in all_workflows().values():
            if wf.event_handler and wf.name == core["type"]:
                jobs.append(self._start_from_event(wf, data, core["id"]))
        hooks = hooks_of(self._client)
        if hooks is not None and jobs:  # each job's task first shows the event to the hooks (its trace context)
            seen = CloudEvent(core | extensions, data)
            jobs = [_after_hook(hooks, seen, job) for job in jobs]
        if wait:
            await asyncio.gather(*jobs)
            return
        for job in jobs:
            self._spawn(job)

    async def _call_handler(self, handler: Callable[[CloudEvent], Any], event: CloudEvent) -> None:
        try:
            result = handler(event)
            if inspect.isawaitable(result):
                await result
        except Exception:
            logger.exception("on_event handler %r failed", handler)

    async def _start_from_event(self, wf: Workflow, data: Any, event_id: str) -> None:
        try:
            kwargs = dict(data) if isinstance(data, dict) else {"data": data}
            await self._client.start_workflow(wf, kwargs)
        except Exception:
            logger.exception("Starting workflow %r from event %s failed", wf.name, event_id)


async def _after_hook(hooks: Any, event: CloudEvent, job: Coroutine[Any, Any, None]) -> None:
    await call_hook(hooks, "on_cloudevent_dispatch", event)
    await job
