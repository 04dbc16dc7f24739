"""Calling user hooks safely: missing methods are skipped, exceptions are logged, never raised.

Also the plumbing of trace context (see docs/hooks.md, "Runs and trace context"): the hooks own its meaning (W3C
``traceparent``/``tracestate`` for OpenTelemetry); Edda only carries the dicts they give across the boundaries
it controls: into the history of an instance (a ``TraceContext`` note, so that runs in other processes continue
the same trace) and into the extension attributes of the CloudEvents it sends.
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Iterable
from typing import Any

from edda.storage.records import HistoryEvent, NewHistoryEvent

__all__ = [
    "TRACE_NOTE_ID",
    "TRACE_NOTE_TYPE",
    "ask_hook",
    "call_hook",
    "hooks_of",
    "run_trace_context",
    "trace_extensions",
]

logger = logging.getLogger("edda.hooks")

# The history note that keeps an instance's trace context (not a step: replay ignores it).
TRACE_NOTE_TYPE = "TraceContext"
TRACE_NOTE_ID = "edda:trace"
# CloudEvents extension attribute names: lower-case ASCII letters and digits; never a core attribute's name, nor the
# extension that addresses an instance.
_EXTENSION_NAME = re.compile(r"[a-z0-9]{1,20}")
_NOT_FROM_HOOKS = frozenset(
    {"specversion", "type", "source", "id", "time", "datacontenttype", "dataschema", "subject", "data"}
    | {"eddainstanceid"}
)


async def call_hook(hooks: Any, name: str, *args: Any) -> None:
    if hooks is None:
        return
    method = getattr(hooks, name, None)
    if method is None:
        return
    try:
        result = method(*args)
        if inspect.isawaitable(result):
            await result
    except Exception:
        logger.exception("Hook %s.%s raised; ignored so the workflow is not affected", type(hooks).__name__, name)


async def ask_hook(hooks: Any, name: str, *args: Any) -> Any:
    """Call hook ``name`` (sync or async) and return what it returns; ``None`` when the hooks lack it or it raised
    (logged, as for :func:`call_hook`)."""
    if hooks is None:
        return None
    method = getattr(hooks, name, None)
    if method is None:
        return None
    try:
        result = method(*args)
        if inspect.isawaitable(result):
            result = await result
    except Exception:
        logger.exception("Hook %s.%s raised; ignored so the workflow is not affected", type(hooks).__name__, name)
        return None
    return result


def hooks_of(owner: Any) -> Any:
    """The hooks object of a worker or an app (its ``hooks`` attribute), or ``None``."""
    return getattr(owner, "hooks", None)


def _string_dict(value: Any, hooks: Any, name: str) -> dict[str, str] | None:
    if value is None:
        return None
    if isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        return dict(value) if value else None
    logger.warning(
        "Hook %s.%s returned %s; a trace context must be a dict of str to str (or None). Ignored.",
        type(hooks).__name__,
        name,
        type(value).__name__,
    )
    return None


async def trace_extensions(
    hooks: Any, instance_id: str | None, extensions: dict[str, Any] | None
) -> dict[str, Any] | None:
    """``extensions`` plus the trace context the hooks give for an event sent now (``event_trace_context``), as
    CloudEvents extension attributes (the distributed-tracing extension: ``traceparent``, ``tracestate``).
    Attributes the caller set explicitly are kept as given."""
    context = _string_dict(await ask_hook(hooks, "event_trace_context", instance_id), hooks, "event_trace_context")
    if not context:
        return extensions
    valid = {k: v for k, v in context.items() if _EXTENSION_NAME.fullmatch(k) and k not in _NOT_FROM_HOOKS}
    return valid | dict(extensions or {})


def stored_trace_context(history: Iterable[HistoryEvent]) -> dict[str, str] | None:
    """The trace context kept in a history (its ``TraceContext`` note), if any."""
    for event in history:
        if event.event_type == TRACE_NOTE_TYPE and event.activity_id == TRACE_NOTE_ID:
            context = event.event_data.get("context")
            return dict(context) if isinstance(context, dict) and context else None
    return None


async def run_trace_context(
    hooks: Any,
    instance_id: str,
    workflow_name: str,
    history: Iterable[HistoryEvent],
    carried: dict[str, str] | None,
) -> tuple[dict[str, str] | None, NewHistoryEvent | None]:
    """The trace context of a run that begins, and the history note to write when the history holds none yet.

    From the history's note if there is one; else the one ``carried`` over from the previous iteration
    (``ctx.recur()``); else whatever the hooks' ``workflow_trace_context`` gives (a new instance's first run).
    """
    context = stored_trace_context(history)
    if context is not None:
        return context, None
    if carried is None:
        asked = await ask_hook(hooks, "workflow_trace_context", instance_id, workflow_name)
        carried = _string_dict(asked, hooks, "workflow_trace_context")
    if carried is None:
        return None, None
    return carried, NewHistoryEvent(TRACE_NOTE_ID, TRACE_NOTE_TYPE, {"context": dict(carried)})
