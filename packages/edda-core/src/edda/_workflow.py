"""``@workflow``: orchestration code that is replayed from history after a crash."""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable
from typing import Any, overload

from edda._client import current_client
from edda._hints import resolve_hints
from edda.exceptions import ConfigurationError, InvalidInputError
from edda.serialization import from_storable, restore, to_storable

__all__ = [
    "Workflow",
    "check_timeout_option",
    "all_workflows",
    "get_all_workflows",
    "get_workflow",
    "register_workflow",
    "saga",
    "workflow",
]

RESERVED_START_OPTIONS = ("instance_id", "lock_timeout_seconds")
MAX_TIMEOUT_SECONDS = 100 * 365 * 24 * 3600  # a century: beyond that it is a bug, not a limit


def check_timeout_option(value: Any, what: str) -> float | None:
    """``value`` as seconds (a positive, finite number) or ``None``.

    Raises:
        ConfigurationError: anything else; the message names ``what``.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigurationError(f"{what} must be a number of seconds or None, got {value!r}")
    if not 0 < value <= MAX_TIMEOUT_SECONDS:
        raise ConfigurationError(f"{what} must be more than 0 and at most 100 years in seconds, got {value!r}")
    return float(value)


class Workflow:
    """A workflow function registered under its name. Start instances with :meth:`start`."""

    def __init__(
        self,
        func: Callable[..., Any],
        *,
        event_handler: bool = False,
        lock_timeout_seconds: float | None = None,
        name: str | None = None,
        execution_timeout_seconds: float | None = None,
    ) -> None:
        if not inspect.iscoroutinefunction(func):
            raise ConfigurationError(
                f"@workflow needs an async function (`async def {getattr(func, '__name__', 'wf')}(ctx, ...)`); "
                f"workflows are replayed by an async engine. Activities may be sync."
            )
        if lock_timeout_seconds is not None and (
            not isinstance(lock_timeout_seconds, int | float) or lock_timeout_seconds <= 0
        ):
            raise ConfigurationError(f"lock_timeout_seconds must be a positive number, got {lock_timeout_seconds!r}")
        self.func = func
        self.name = name or func.__name__
        self.event_handler = event_handler
        self.lock_timeout_seconds = lock_timeout_seconds
        self.execution_timeout_seconds = check_timeout_option(
            execution_timeout_seconds, f"@workflow {self.name!r}: execution_timeout_seconds"
        )
        self.signature = inspect.signature(func)
        params = list(self.signature.parameters.values())
        if not params or params[0].kind not in (
            inspect.Parameter.POSITIONAL_ONLY,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
        ):
            raise ConfigurationError(f"Workflow {self.name!r} must take the WorkflowContext as its first parameter.")
        self.params = params[1:]
        for p in self.params:
            if p.kind is inspect.Parameter.POSITIONAL_ONLY:
                raise ConfigurationError(
                    f"Workflow {self.name!r}: parameter {p.name!r} is positional-only; workflow inputs are passed by "
                    f"keyword (`start(**kwargs)`), so make it a normal parameter."
                )
            if p.name in RESERVED_START_OPTIONS:
                raise ConfigurationError(
                    f"Workflow {self.name!r}: parameter name {p.name!r} is reserved for start() options "
                    f"({', '.join(RESERVED_START_OPTIONS)}); rename it (ctx.instance_id gives the instance id)."
                )
        self.hints = resolve_hints(func)
        self.return_hint = self.hints.get("return", Any)
        if self.return_hint is None or self.return_hint is type(None):
            self.return_hint = Any
        functools.update_wrapper(self, func)  # type: ignore[arg-type]
        register_workflow(self)

    def __repr__(self) -> str:
        return f"<workflow {self.name}>"

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the function directly (used by the engine when it runs an instance)."""
        return await self.func(*args, **kwargs)

    # -- inputs -------------------------------------------------------------------------------------------------

    def prepare_input(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Validate ``kwargs`` against the signature and type hints and convert them to storable data.

        Raises:
            InvalidInputError: unknown or missing arguments, or a value that does not match its type hint.
        """
        by_name = {p.name: p for p in self.params}
        var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in self.params)
        accepted = [p.name for p in self.params if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
        unknown = [k for k in kwargs if k not in by_name or by_name[k].kind is inspect.Parameter.VAR_POSITIONAL]
        if unknown and not var_kw:
            raise InvalidInputError(
                f"Workflow {self.name!r} got unknown argument(s) {', '.join(map(repr, unknown))}; "
                f"it accepts: {', '.join(accepted) or '(no arguments)'}."
            )
        missing = [
            p.name
            for p in self.params
            if p.default is inspect.Parameter.empty
            and p.name not in kwargs
            and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
        ]
        if missing:
            raise InvalidInputError(f"Workflow {self.name!r} is missing required argument(s): {', '.join(missing)}.")
        stored: dict[str, Any] = {}
        for key, value in kwargs.items():
            path = f"{self.name}({key}=...)"
            hint = self.hints.get(key, Any) if key in by_name else Any
            checked = restore(value, hint, path=path)
            stored[key] = to_storable(checked, path=path)
        return stored

    def load_input(self, stored: dict[str, Any]) -> dict[str, Any]:
        """Turn stored input back into the function's keyword arguments (pydantic models, enums ... restored)."""
        kwargs: dict[str, Any] = {}
        for key, value in stored.items():
            hint = self.hints.get(key, Any)
            kwargs[key] = restore(from_storable(value), hint, path=f"{self.name}({key}=...)")
        return kwargs

    def load_result(self, stored: Any) -> Any:
        if isinstance(stored, bytes):
            return stored
        value = from_storable(stored)
        return value if self.return_hint is Any else restore(value, self.return_hint, path=f"{self.name} result")

    # -- starting -----------------------------------------------------------------------------------------------

    async def start(
        self, *, instance_id: str | None = None, lock_timeout_seconds: float | None = None, **kwargs: Any
    ) -> str:
        """Start a new instance with ``kwargs`` as input and return its id; it runs in the background.

        Args:
            instance_id: choose the id yourself (an idempotency key): starting again with an id that exists returns
                that id without starting anything.
            lock_timeout_seconds: lease timeout for this instance (how long a silent worker keeps it).
            **kwargs: the workflow's inputs, validated against its type hints before anything is stored.

        Raises:
            InvalidInputError: the inputs do not match the signature; nothing was stored.
            RuntimeError: no EddaApp is initialized in this process.
        """
        return await current_client().start_workflow(
            self, kwargs, instance_id=instance_id, lock_timeout_seconds=lock_timeout_seconds
        )

    async def run(self, *, instance_id: str | None = None, timeout: float | None = None, **kwargs: Any) -> Any:
        """Start an instance and wait for its result (``start`` + ``EddaApp.wait_for_result``)."""
        app = current_client()
        iid = await app.start_workflow(self, kwargs, instance_id=instance_id)
        return await app.wait_for_result(iid, timeout=timeout)

    async def resume(self, instance_id: str, event: Any = None) -> None:
        """Resume an existing instance on this worker now, if no other worker holds it."""
        await current_client().resume_workflow(instance_id)


_workflows: dict[str, Workflow] = {}


def register_workflow(wf: Workflow) -> None:
    """Make ``wf`` findable by name (a later definition under the same name replaces the earlier: redeploying)."""
    _workflows[wf.name] = wf


def workflow_names() -> frozenset[str]:
    """The names of every workflow registered in this process (the instances its workers can run)."""
    return frozenset(_workflows)


def get_workflow(name: str) -> Workflow | None:
    """The workflow registered under ``name`` in this process, if any."""
    return _workflows.get(name)


def all_workflows() -> dict[str, Workflow]:
    """Every registered workflow, by name (a copy)."""
    return dict(_workflows)


def get_all_workflows() -> dict[str, Workflow]:
    """Every registered workflow, by name."""
    return all_workflows()


@overload
def workflow(func: Callable[..., Any], /) -> Workflow: ...


@overload
def workflow(
    *,
    event_handler: bool = False,
    lock_timeout_seconds: float | None = None,
    execution_timeout_seconds: float | None = None,
) -> Callable[[Callable[..., Any]], Workflow]: ...


def workflow(
    func: Callable[..., Any] | None = None,
    /,
    *,
    event_handler: bool = False,
    lock_timeout_seconds: float | None = None,
    execution_timeout_seconds: float | None = None,
) -> Any:
    """Declare a workflow: an async function, first parameter the :class:`WorkflowContext`, that orchestrates
    activities and is replayed from history after a crash.

    Args:
        event_handler: also start it for every incoming CloudEvent whose type is the workflow's name.
        lock_timeout_seconds: lease timeout for its instances (default: the app's ``lease_timeout_seconds``).
        execution_timeout_seconds: the longest an instance may run, counted from its start (its stored
            ``created_at``, so crashes and ``ctx.recur()`` do not reset it). Past it, the instance is cancelled: its
            running activity attempt is interrupted, a wait is cut short, its compensations run, and it ends
            ``cancelled`` with ``error["message"]`` saying ``execution timeout of N s exceeded``
            (``error["reason"] == "execution_timeout"``). ``None`` (default): no limit.

    Example::

        @workflow
        async def order_workflow(ctx: WorkflowContext, order_id: str, amount: float) -> dict:
            payment = await process_payment(ctx, amount)
            return {"order_id": order_id, **payment}

        instance_id = await order_workflow.start(order_id="ORD-1", amount=9.5)
    """
    options: dict[str, Any] = {
        "event_handler": event_handler,
        "lock_timeout_seconds": lock_timeout_seconds,
        "execution_timeout_seconds": execution_timeout_seconds,
    }
    if func is not None:
        return Workflow(func, **options)

    def decorator(f: Callable[..., Any]) -> Workflow:
        return Workflow(f, **options)

    return decorator


saga = workflow
"""The older name of :func:`workflow` (a saga is a workflow whose activities register compensations)."""
