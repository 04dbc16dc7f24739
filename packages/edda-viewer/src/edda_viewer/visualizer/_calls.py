"""What an awaited call in workflow code is: an activity, a wait, a sent event ... (one :class:`Step`).

Two sources of knowledge, used in this order:

1. The objects the names refer to, when the workflow function itself was analysed (its globals and closure):
   an ``Activity`` gives its recorded name and its ``@on_failure`` compensation; edda's own functions are known
   by identity, so ``from edda import sleep as pause`` is still a timer.
2. The names as written, when only source text is available: edda's function names, ``ctx.recur``, and the
   convention that an activity takes the context first (``await charge(ctx, ...)``).
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import edda
from edda_viewer.visualizer._nodes import Step, StepKind

__all__ = ["CallInfo", "Classifier", "Namespace", "callee_name", "text_of"]

Namespace = Mapping[str, Any]

_MISSING = object()

# edda's step functions by name: (kind, index of the detail argument, its keyword names, timeout keyword).
_EDDA_STEPS: dict[str, tuple[StepKind, int, tuple[str, ...]]] = {
    "wait_event": (StepKind.WAIT_EVENT, 1, ("event_type",)),
    "sleep": (StepKind.SLEEP, 1, ("seconds",)),
    "wait_timer": (StepKind.SLEEP, 1, ("duration_seconds", "seconds")),
    "sleep_until": (StepKind.SLEEP, 1, ("target_time",)),
    "wait_until": (StepKind.SLEEP, 1, ("until_time", "target_time")),
    "receive": (StepKind.RECEIVE, 1, ("channel",)),
    "wait_message": (StepKind.RECEIVE, 1, ("channel",)),
    "send_event": (StepKind.SEND_EVENT, 0, ("event_type",)),
    "publish": (StepKind.PUBLISH, 1, ("channel",)),
    "send_to": (StepKind.PUBLISH, 1, ("instance_id",)),
    "subscribe": (StepKind.SUBSCRIBE, 1, ("channel",)),
    "join_group": (StepKind.SUBSCRIBE, 1, ("group",)),
    "unsubscribe": (StepKind.UNSUBSCRIBE, 1, ("channel",)),
    "leave_group": (StepKind.UNSUBSCRIBE, 1, ("group",)),
    "register_compensation": (StepKind.COMPENSATION, 1, ("compensation_func",)),
}
# edda functions that workflow code may await but that are not recorded steps of their own.
_EDDA_CALLS = frozenset({"send_event_transactional"})
_TIMEOUTS: dict[StepKind, tuple[int, str]] = {
    StepKind.WAIT_EVENT: (2, "timeout_seconds"),
    StepKind.RECEIVE: (2, "timeout_seconds"),
}
_IDS = {"activity_id", "event_id", "message_id", "timer_id"}
_BY_IDENTITY: dict[int, str] = {id(getattr(edda, name)): name for name in (*_EDDA_STEPS, *_EDDA_CALLS)}
_GATHER = {id(asyncio.gather)}
_UNWRAP = {id(asyncio.wait_for), id(asyncio.shield), id(asyncio.create_task), id(asyncio.ensure_future)}
_ARITHMETIC: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}


def text_of(expr: ast.AST) -> str:
    """The expression as written (a string constant as its value)."""
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return expr.value
    return ast.unparse(expr)


def callee_name(func: ast.expr) -> str:
    """The called function's own name: ``f`` for ``f(...)`` and ``mod.f(...)``."""
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ast.unparse(func)


@dataclass(frozen=True)
class CallInfo:
    """How the analyzer should treat a call: ``role`` ``"step"``, ``"gather"`` or ``"unwrap"`` (its first argument
    is the real call: ``asyncio.wait_for(f(ctx), 5)``); ``step_like`` tells whether an un-awaited call of it is a
    coroutine worth tracking (``tasks = [f(ctx, x) for x in xs]``)."""

    role: str
    step_like: bool


class Classifier:
    """Turns calls into :class:`Step` records for one workflow function."""

    def __init__(self, context: str, namespace: Namespace | None, on_failure: Mapping[str, str]) -> None:
        self.context = context
        self.namespace = namespace
        self.on_failure = on_failure  # activity name -> compensation name, from decorators in the analysed source

    # -- what kind of call -------------------------------------------------------------------------------------

    def info(self, call: ast.Call) -> CallInfo:
        target = self.resolve(call.func)
        if target is not _MISSING:
            if id(target) in _GATHER:
                return CallInfo("gather", False)
            if id(target) in _UNWRAP:
                return CallInfo("unwrap", False)
        elif _is_name(call.func, "gather"):
            return CallInfo("gather", False)
        elif isinstance(call.func, ast.Attribute) and _is_name(call.func.value, "asyncio"):
            if call.func.attr == "gather":
                return CallInfo("gather", False)
            if call.func.attr in ("wait_for", "shield", "create_task", "ensure_future"):
                return CallInfo("unwrap", False)
        return CallInfo("step", self._step_like(call, target))

    def _step_like(self, call: ast.Call, target: object) -> bool:
        if target is not _MISSING:
            return (
                _edda_name(target) is not None
                or bool(getattr(target, "__edda_activity__", False))
                or (inspect.iscoroutinefunction(target) or isinstance(target, edda.Workflow))
            )
        return self._known_name(call) is not None or self._context_first(call)

    def step(self, call: ast.Call, site: int) -> Step:
        """The :class:`Step` for ``call`` (awaited, or gathered)."""
        written = ast.unparse(call.func)
        target = self.resolve(call.func)
        edda_name = _edda_name(target) if target is not _MISSING else self._known_name(call)
        if edda_name in _EDDA_CALLS:
            return Step(StepKind.CALL, edda_name, written, site, call.lineno)
        if edda_name is not None:
            return self._edda_step(call, edda_name, written, site)
        if isinstance(call.func, ast.Attribute) and _is_name(call.func.value, self.context):
            kind = StepKind.RECUR if call.func.attr == "recur" else StepKind.CALL
            return Step(kind, call.func.attr, written, site, line=call.lineno)
        activity_id = _keyword_text(call, _IDS)
        if target is not _MISSING:
            if getattr(target, "__edda_activity__", False):
                name = str(getattr(target, "name", callee_name(call.func)))
                comp = getattr(target, "compensation", None)
                comp_name = None if comp is None else str(getattr(comp, "__name__", comp))
                return Step(
                    StepKind.ACTIVITY, name, written, site, call.lineno, activity_id=activity_id, compensation=comp_name
                )
            name = str(getattr(target, "name", None) or getattr(target, "__name__", written))
            return Step(StepKind.CALL, name, written, site, call.lineno, activity_id=activity_id)
        name = callee_name(call.func)
        kind = StepKind.ACTIVITY if self._context_first(call) else StepKind.CALL
        comp_name = self.on_failure.get(name) if kind is StepKind.ACTIVITY else None
        return Step(kind, name, written, site, call.lineno, activity_id=activity_id, compensation=comp_name)

    def _edda_step(self, call: ast.Call, name: str, written: str, site: int) -> Step:
        kind, index, keywords = _EDDA_STEPS[name]
        detail_expr = _argument(call, index, keywords)
        detail = None if detail_expr is None else _describe(kind, detail_expr)
        key = (
            detail_expr.value if isinstance(detail_expr, ast.Constant) and isinstance(detail_expr.value, str) else None
        )
        timeout = None
        if kind in _TIMEOUTS:
            position, keyword = _TIMEOUTS[kind]
            timeout_expr = _argument(call, position, (keyword,))
            if timeout_expr is not None and not (isinstance(timeout_expr, ast.Constant) and timeout_expr.value is None):
                timeout = _duration(timeout_expr)
        comp = None
        if kind is StepKind.COMPENSATION and detail_expr is not None:
            comp = self._compensation_name(detail_expr)
            key = comp
        if name == "send_to":
            channel = _argument(call, 3, ("channel",))
            key = "__direct__" if channel is None else (text_of(channel) if isinstance(channel, ast.Constant) else None)
        mode = _argument(call, 2, ("mode",)) if kind is StepKind.SUBSCRIBE else None
        if mode is not None and detail is not None:
            detail = f"{detail} ({text_of(mode)})"
        return Step(
            kind,
            name,
            written,
            site,
            call.lineno,
            detail=detail,
            timeout=timeout,
            key=key,
            activity_id=_keyword_text(call, _IDS),
            compensation=comp,
        )

    def _compensation_name(self, expr: ast.expr) -> str:
        target = self.resolve(expr)
        if target is not _MISSING:
            return str(getattr(target, "__name__", callee_name(expr)))
        return callee_name(expr)

    def _known_name(self, call: ast.Call) -> str | None:
        """edda's step function named in ``call`` (by name only: no object to check)."""
        func = call.func
        if isinstance(func, ast.Name) and (func.id in _EDDA_STEPS or func.id in _EDDA_CALLS):
            return func.id
        if isinstance(func, ast.Attribute) and (func.attr in _EDDA_STEPS or func.attr in _EDDA_CALLS):
            base = ast.unparse(func.value)
            if base == "edda" or base.startswith("edda.") or self._context_first(call):
                return func.attr
        return None

    def _context_first(self, call: ast.Call) -> bool:
        return bool(call.args) and _is_name(call.args[0], self.context)

    # -- names to objects --------------------------------------------------------------------------------------

    def resolve(self, expr: ast.expr) -> object:
        """The object ``expr`` (a name or a dotted name) refers to in the workflow's namespace, if known.

        Attributes are read with :func:`inspect.getattr_static`, so no property or ``__getattr__`` runs.
        """
        if self.namespace is None:
            return _MISSING
        if isinstance(expr, ast.Name):
            return self.namespace.get(expr.id, _MISSING)
        if isinstance(expr, ast.Attribute):
            base = self.resolve(expr.value)
            if base is _MISSING or not (inspect.ismodule(base) or inspect.isclass(base)):
                return _MISSING
            try:
                return inspect.getattr_static(base, expr.attr)
            except AttributeError:
                return _MISSING
        return _MISSING


def _edda_name(target: object) -> str | None:
    return _BY_IDENTITY.get(id(target))


def _is_name(expr: ast.expr, name: str) -> bool:
    return isinstance(expr, ast.Name) and expr.id == name


def _argument(call: ast.Call, index: int, keywords: tuple[str, ...]) -> ast.expr | None:
    for kw in call.keywords:
        if kw.arg in keywords:
            return kw.value
    positional = [a for a in call.args if not isinstance(a, ast.Starred)]
    if len(positional) == len(call.args) and index < len(positional):
        return positional[index]
    return None


def _keyword_text(call: ast.Call, names: set[str]) -> str | None:
    for kw in call.keywords:
        if kw.arg in names:
            return text_of(kw.value)
    return None


def _describe(kind: StepKind, expr: ast.expr) -> str:
    if kind is StepKind.SLEEP:
        return _duration(expr)
    return text_of(expr)


def _duration(expr: ast.expr) -> str:
    """A duration in seconds as written, or readable (``3*24*60*60`` -> ``3 d``) when it is constant."""
    seconds = _constant_number(expr)
    if seconds is None or seconds < 0:
        return text_of(expr)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size:g} {unit}"
    return f"{seconds:g} s"


def _constant_number(expr: ast.expr) -> float | None:
    if isinstance(expr, ast.Constant) and isinstance(expr.value, int | float) and not isinstance(expr.value, bool):
        return float(expr.value)
    if isinstance(expr, ast.UnaryOp) and isinstance(expr.op, ast.USub):
        inner = _constant_number(expr.operand)
        return None if inner is None else -inner
    if isinstance(expr, ast.BinOp) and type(expr.op) in _ARITHMETIC:
        left, right = _constant_number(expr.left), _constant_number(expr.right)
        if left is None or right is None or (isinstance(expr.op, ast.Div) and right == 0):
            return None
        return float(_ARITHMETIC[type(expr.op)](left, right))
    return None
