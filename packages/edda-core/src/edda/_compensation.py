"""Saga compensation: undo completed activities, newest first, when a workflow fails or is cancelled.

A compensation is registered when its activity completes (``@on_failure``) or explicitly
(``register_compensation``), and recorded in history with the arguments it will get, so a worker that resumes the
instance after a crash knows what to undo. Each compensation's completion is recorded too; resuming a crashed
compensation phase skips those already done.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from edda._context import WorkflowContext
from edda._hints import resolve_hints
from edda._registry import get_compensation_function, register_compensation_function
from edda._run import current_scope
from edda.serialization import restore, to_storable
from edda.storage.records import HistoryEvent, HistoryEventType, NewHistoryEvent

__all__ = ["compensation", "on_failure", "register_compensation"]

logger = logging.getLogger("edda")
F = TypeVar("F", bound=Callable[..., Any])
_REGISTRATION_TYPES = frozenset({HistoryEventType.COMPENSATION_REGISTERED})


def compensation(func: F) -> F:
    """Register ``func`` as a compensation, at import time, so any worker can run it after a crash.

    Returns ``func`` unchanged. Its first parameter is the :class:`WorkflowContext`.
    """
    register_compensation_function(func)
    return func


def on_failure(compensation_func: Callable[..., Any]) -> Callable[[F], F]:
    """Attach ``compensation_func`` to an activity: once the activity completes, the compensation is registered and
    runs if the workflow later fails or is cancelled.

    The compensation is called with the activity's own arguments when its parameters accept them; otherwise with the
    keys of the activity's result dict that match its parameters. Use it under ``@activity``::

        @activity
        @on_failure(cancel_reservation)
        async def reserve_inventory(ctx, item_id: str): ...
    """
    register_compensation_function(compensation_func)

    def decorator(func: F) -> F:
        if getattr(func, "__edda_activity__", False):  # @on_failure above @activity
            func.compensation = compensation_func  # type: ignore[attr-defined]
            return func  # type: ignore[return-value]
        func.__edda_compensation__ = compensation_func  # type: ignore[attr-defined]
        return func

    return decorator


def _comp_signature(func: Any) -> inspect.Signature:
    return inspect.signature(getattr(func, "func", func))


def bind_compensation(
    comp: Any, activity_func: Any, activity_name: str, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any
) -> tuple[list[Any], dict[str, Any]]:
    """The arguments ``comp`` will get, tried in this order:

    1. the activity's arguments whose *names* match the compensation's parameters;
    2. the keys of the activity's result (a dict or pydantic model) matching its parameters;
    3. the activity's arguments as they were passed, by position.
    """
    sig = _comp_signature(comp)
    params = list(sig.parameters.values())[1:]
    accepts_any = any(p.kind is p.VAR_KEYWORD for p in params)
    named = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}

    def by_name(source: dict[str, Any]) -> dict[str, Any] | None:
        chosen = {k: v for k, v in source.items() if accepts_any or k in named}
        try:
            sig.bind(None, **chosen)
        except TypeError:
            return None
        return chosen

    try:
        bound = inspect.signature(activity_func).bind(None, *args, **kwargs)
        call_args = dict(list(bound.arguments.items())[1:])
    except TypeError:
        call_args = {}
    if named and (chosen := by_name(call_args)) is not None and set(chosen) & named:
        return [], chosen
    data = to_storable(result) if isinstance(result, dict) or hasattr(result, "model_dump") else None
    if isinstance(data, dict) and (chosen := by_name(data)) is not None:
        return [], chosen
    try:
        sig.bind(None, *args, **kwargs)
        return list(args), dict(kwargs)
    except TypeError:
        pass
    raise TypeError(
        f"Compensation {getattr(comp, '__name__', comp)!r} of activity {activity_name!r} can be called neither with "
        f"the activity's arguments {list(args) + list(kwargs)!r} nor with the keys of its result. Give it "
        f"parameters matching one of them, or call register_compensation(ctx, fn, ...) with explicit arguments."
    )


async def register_compensation(
    ctx: WorkflowContext,
    compensation_func: Callable[..., Any],
    *args: Any,
    activity_id: str | None = None,
    **kwargs: Any,
) -> None:
    """Register a compensation with explicit arguments; it runs (newest first) if the workflow fails or is
    cancelled.

    Recorded in history like a step (replay does not register it twice). Decorate ``compensation_func`` with
    ``@compensation`` so a worker that resumes the instance in a fresh process can find it.

    Args:
        ctx: the workflow context.
        compensation_func: called as ``compensation_func(ctx, *args, **kwargs)``.
        activity_id: the activity this compensation undoes (informational).
    """
    if current_scope.get() is not None:
        raise RuntimeError("register_compensation() belongs in workflow code, not inside an activity.")
    run = ctx._run
    key = register_compensation_function(compensation_func)
    name = getattr(compensation_func, "__name__", str(compensation_func))
    step_id = run.next_auto_id(f"compensation:{name}")
    recorded = run.claim_step(step_id, event_types=_REGISTRATION_TYPES, name=name, name_key="compensation_name")
    if recorded is not None:
        return
    await run.check_new_step(step_id, f"compensation registration {name!r}")
    run.add_pending(
        [
            NewHistoryEvent(
                step_id,
                HistoryEventType.COMPENSATION_REGISTERED,
                {
                    "compensation_name": name,
                    "compensation_key": key,
                    "for_activity": activity_id,
                    "args": to_storable(list(args), path="compensation argument"),
                    "kwargs": to_storable(kwargs, path="compensation argument"),
                },
            )
        ],
        [],
        [],
    )


def pending_compensations(history: list[HistoryEvent], new: list[NewHistoryEvent]) -> list[tuple[str, dict[str, Any]]]:
    """(registration id, data) of registered compensations not yet done, newest first."""
    registered: list[tuple[str, dict[str, Any]]] = []
    done: set[str] = set()
    for event in history:
        if event.event_type in (HistoryEventType.COMPENSATION_REGISTERED, HistoryEventType.COMPENSATION_ATTACHED):
            registered.append((event.activity_id, event.event_data))
        elif event.event_type in (HistoryEventType.COMPENSATION_EXECUTED, HistoryEventType.COMPENSATION_FAILED):
            done.add(event.activity_id)
    for entry in new:
        if entry.event_type in (HistoryEventType.COMPENSATION_REGISTERED, HistoryEventType.COMPENSATION_ATTACHED):
            registered.append((entry.activity_id, entry.event_data))
    return [(rid, data) for rid, data in reversed(registered) if rid not in done]


async def call_compensation(ctx: WorkflowContext, data: dict[str, Any]) -> None:
    """Run one recorded compensation with its recorded arguments (restored per its type hints)."""
    func = get_compensation_function(data["compensation_key"])
    if func is None:
        raise LookupError(
            f"Compensation {data['compensation_name']!r} ({data['compensation_key']}) is not registered in this "
            f"process. Decorate it with @compensation (or use it in @on_failure) in a module the worker imports."
        )
    target = getattr(func, "func", func)
    sig = inspect.signature(target)
    bound = sig.bind(ctx, *data.get("args", []), **data.get("kwargs", {}))
    hints = resolve_hints(target)
    for name, value in list(bound.arguments.items())[1:]:
        param = sig.parameters[name]
        if name in hints and param.kind not in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            bound.arguments[name] = restore(value, hints[name], path=f"{data['compensation_name']}.{name}")
    if inspect.iscoroutinefunction(target):
        await target(*bound.args, **bound.kwargs)
    else:
        await asyncio.to_thread(target, *bound.args, **bound.kwargs)
