"""Incoming CloudEvents: stored as channel messages, then handed to ``on_event`` handlers and event-handler workflows.

Beside :mod:`edda._events` (what a workflow does with events); this is what the app does when one arrives.

Durability: everything an event sets off is stored before :meth:`EventDispatcher.deliver` returns (so before an HTTP
202): the message, an instance of each ``@workflow(event_handler=True)`` workflow it starts, and an instance of an
internal workflow (``edda.on_event.<type>``) whose steps run the ``on_event`` handlers, one activity each. A process
killed right after the answer leaves stored instances that recovery runs, and a handler that completed is never run
again. Ids derive from the event's ``source`` and ``id``: the same event delivered twice finds its instances
already there and starts nothing new.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import inspect
import logging
import weakref
from collections.abc import Callable
from typing import Any

from edda._activity import Activity
from edda._client import Client
from edda._cloudevent import CloudEvent
from edda._context import WorkflowContext
from edda._events import cloudevent_parts
from edda._hookcall import call_hook, hooks_of
from edda._workflow import Workflow, all_workflows, register_workflow
from edda.exceptions import InvalidInputError
from edda.serialization import to_storable
from edda.storage.records import NewMessage

__all__ = ["HANDLERS_WORKFLOW_PREFIX", "EventDispatcher", "event_key"]

logger = logging.getLogger("edda")

HANDLERS_WORKFLOW_PREFIX = "edda.on_event."

# Which dispatcher's handlers a run calls: the one of the app whose worker hosts the run.
_DISPATCHERS: weakref.WeakKeyDictionary[object, EventDispatcher] = weakref.WeakKeyDictionary()


def event_key(source: str, event_id: str) -> str:
    """A stable key of a CloudEvent's identity (``source``, ``id``), for the ids of what it sets off."""
    return hashlib.sha256(f"{source}\x00{event_id}".encode("utf-8", "surrogatepass")).hexdigest()[:32]


class EventDispatcher:
    """The ``on_event`` handlers of one app, and the delivery of CloudEvents to them and to waiting workflows.

    Args:
        client: the app (publishes the message, starts instances).
    """

    def __init__(self, client: Client) -> None:
        self._client = client
        self._handlers: dict[str, list[Callable[[CloudEvent], Any]]] = {}

    def attach(self, host: object) -> None:
        """Runs hosted by ``host`` (the app's worker) call this dispatcher's handlers."""
        _DISPATCHERS[host] = self

    def add_handler(self, event_type: str, handler: Callable[[CloudEvent], Any]) -> None:
        self._handlers.setdefault(event_type, []).append(handler)
        name = HANDLERS_WORKFLOW_PREFIX + event_type
        if name not in all_workflows():
            register_workflow(Workflow(_run_handlers, name=name))

    def handlers_for(self, event_type: str) -> list[Callable[[CloudEvent], Any]]:
        return list(self._handlers.get(event_type, ()))

    async def deliver(self, event: Any, *, wait: bool = False) -> None:
        """Store ``event`` as a message on the channel named by its type (addressed to its ``eddainstanceid``, if
        any) and store the instances it starts (handlers, event-handler workflows), then return; with ``wait``,
        return once the handlers have run.

        Raises:
            ValueError: the event lacks ``type``, ``source`` or ``id``, or its data cannot be stored.
        """
        core, extensions, data = cloudevent_parts(event)
        key = event_key(core["source"], core["id"])
        target = extensions.get("eddainstanceid")
        message = NewMessage(
            message_id=f"ce-{key}",
            channel=core["type"],
            data=to_storable(data, path="event data"),
            metadata=to_storable(dict(core) | {"extensions": extensions}),
            target_instance_id=str(target) if target else None,
        )
        await self._client.publish_message(message)
        starters = [wf for wf in all_workflows().values() if wf.event_handler and wf.name == core["type"]]
        handlers = bool(self._handlers.get(core["type"]))
        if not starters and not handlers:
            return
        # In a task of its own, so that what the hooks make current (the event's trace context) stays there.
        started = await asyncio.create_task(self._start(core, extensions, data, key, starters, handlers))
        if wait and started is not None:
            await self._client.wait_for_result(started)

    async def _start(
        self,
        core: dict[str, Any],
        extensions: dict[str, Any],
        data: Any,
        key: str,
        starters: list[Workflow],
        handlers: bool,
    ) -> str | None:
        hooks = hooks_of(self._client)
        if hooks is not None:
            await call_hook(hooks, "on_cloudevent_dispatch", CloudEvent(core | extensions, data))
        for wf in starters:
            await self._start_from_event(wf, data, core["id"], key)
        if not handlers:
            return None
        binary = isinstance(data, bytes | bytearray)
        stored = base64.b64encode(bytes(data)).decode("ascii") if binary else data
        handlers_wf = HANDLERS_WORKFLOW_PREFIX + core["type"]
        inputs = {"attributes": core | extensions, "data": stored, "binary": binary}
        return await self._client.start_workflow(handlers_wf, inputs, instance_id=f"edda-event-{key}")

    async def _start_from_event(self, wf: Workflow, data: Any, event_id: str, key: str) -> None:
        kwargs = dict(data) if isinstance(data, dict) else {"data": data}
        try:
            await self._client.start_workflow(wf, kwargs, instance_id=f"{key}-{wf.name}"[:255])
        except InvalidInputError:  # the event's data can never start it: say so, and let the event stand
            logger.exception("Event %s cannot start workflow %r", event_id, wf.name)


async def _run_handlers(
    ctx: WorkflowContext, attributes: dict[str, Any], data: Any = None, binary: bool = False
) -> int:
    """The internal workflow of one event type: each ``on_event`` handler of the hosting app, one step each."""
    dispatcher = _DISPATCHERS.get(ctx._run.host)
    handlers = dispatcher.handlers_for(attributes["type"]) if dispatcher is not None else []
    if not handlers:
        logger.warning(
            "No on_event handler for %r in this app; event %s is not handled", attributes["type"], attributes["id"]
        )
    for index in range(len(handlers)):
        await _HANDLER_STEP(ctx, attributes, data, binary, index, activity_id=f"handler:{index + 1}")
    return len(handlers)


def _named(attributes: dict[str, Any]) -> tuple[Any, Any]:
    return attributes["type"], attributes["id"]


async def _call_handler(ctx: WorkflowContext, attributes: dict[str, Any], data: Any, binary: bool, index: int) -> None:
    dispatcher = _DISPATCHERS.get(ctx._run.host)
    handlers = dispatcher.handlers_for(attributes["type"]) if dispatcher is not None else []
    if index >= len(handlers):
        return  # the handler was removed by a redeploy: nothing to run
    payload = base64.b64decode(data) if binary else data
    result = handlers[index](CloudEvent(attributes, payload))
    if inspect.isawaitable(result):
        await result


_HANDLER_STEP = Activity(_call_handler, name="edda.on_event.handler")
