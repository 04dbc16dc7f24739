"""``@activity``: a unit of work whose result is recorded once and replayed ever after."""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, overload

from edda._admission import lending
from edda._compensation import bind_compensation
from edda._context import WorkflowContext
from edda._errors import error_info, rebuild_error
from edda._hints import resolve_hints
from edda._registry import compensation_key, register_compensation_function
from edda._run import RunState, TxScope, current_scope
from edda._timeouts import (
    DeadlineReached,
    attempt_deadline,
    bounded,
    cancelled_error,
    deadline_passed,
    until_deadline,
)
from edda._workflow import check_timeout_option
from edda.exceptions import ConfigurationError, RetryExhaustedError, SerializationError
from edda.retry import RetryPolicy
from edda.serialization import from_storable, restore, to_storable
from edda.storage.records import HistoryEvent, HistoryEventType, NewHistoryEvent

__all__ = ["Activity", "activity"]

_ACTIVITY_RESULT_TYPES = frozenset({HistoryEventType.ACTIVITY_COMPLETED, HistoryEventType.ACTIVITY_FAILED})


def encode_result(value: Any) -> tuple[dict[str, Any], bytes | None]:
    stored = to_storable(value, path="the activity's return value")
    if isinstance(stored, bytes):
        return {"result": None, "result_encoding": "bytes"}, stored
    return {"result": stored}, None


def decode_result(event_data: dict[str, Any], payload: bytes | None, hint: Any) -> Any:
    if event_data.get("result_encoding") == "bytes":
        return payload
    value = from_storable(event_data.get("result"))
    return value if hint is Any else restore(value, hint, path="recorded result")


class Activity:
    """An activity function wrapped for recording and replay. Call it as ``await act(ctx, *args, **kwargs)``.

    ``activity_id=`` (keyword) gives the call an explicit id; by default calls get ``name:1``, ``name:2``, ... in
    call order. Ids are assigned when the activity is *called*, not when it is awaited, so
    ``asyncio.gather(a(ctx, 1), a(ctx, 2))`` gets the same ids on every replay without manual ids.

    ``timeout_seconds`` limits each attempt, start to close (see :mod:`edda._timeouts`).
    """

    __edda_activity__ = True  # lets @on_failure recognise an activity without importing this module

    def __init__(
        self,
        func: Callable[..., Any],
        *,
        retry_policy: RetryPolicy | None = None,
        name: str | None = None,
        timeout_seconds: float | None = None,
    ) -> None:
        if isinstance(func, Activity):
            func = func.func
        if not callable(func):
            raise ConfigurationError(f"@activity needs a function, got {func!r}")
        if retry_policy is not None and not isinstance(retry_policy, RetryPolicy):
            raise ConfigurationError(f"retry_policy must be a RetryPolicy, got {type(retry_policy).__name__}")
        self.func: Callable[..., Any] = func
        self.name = name or func.__name__
        self.retry_policy = retry_policy
        self.timeout_seconds = check_timeout_option(timeout_seconds, f"@activity {self.name!r}: timeout_seconds")
        self.is_async = inspect.iscoroutinefunction(func)
        hints = resolve_hints(func)
        self.return_hint = hints.get("return", Any)
        if self.return_hint is None or self.return_hint is type(None):
            self.return_hint = Any
        self.compensation: Any = getattr(func, "__edda_compensation__", None)
        if self.compensation is not None:
            register_compensation_function(self.compensation)
        functools.update_wrapper(self, func)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return f"<activity {self.name}>"

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        return self if obj is None else functools.partial(self.__call__, obj)

    def __call__(self, ctx: WorkflowContext, *args: Any, activity_id: str | None = None, **kwargs: Any) -> Any:
        if not isinstance(ctx, WorkflowContext):
            raise TypeError(
                f"Activity {self.name!r} must be called with the WorkflowContext first: "
                f"`await {self.name}(ctx, ...)`; got {type(ctx).__name__} as the first argument."
            )
        if current_scope.get() is not None:
            # Called from inside another activity: a plain call, part of the outer activity's unit of work.
            return self._call_plain(ctx, args, kwargs)
        run = ctx._run
        if activity_id is not None and (not isinstance(activity_id, str) or not activity_id):
            raise ValueError(f"activity_id must be a non-empty string, got {activity_id!r}")
        step_id = activity_id or run.next_auto_id(self.name)
        recorded = run.claim_step(step_id, event_types=_ACTIVITY_RESULT_TYPES, name=self.name, name_key="activity_name")
        return self._run_step(ctx, run, step_id, recorded, args, kwargs)

    async def _call_plain(self, ctx: WorkflowContext, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if self.is_async:
            return await self.func(ctx, *args, **kwargs)
        return await asyncio.to_thread(self.func, ctx, *args, **kwargs)

    async def _run_step(
        self,
        ctx: WorkflowContext,
        run: RunState,
        step_id: str,
        recorded: HistoryEvent | None,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        has_hooks = run.host.has_hooks
        if recorded is not None:
            if has_hooks:
                await run.host.hook("on_activity_start", run.instance_id, step_id, self.name, True)
            if recorded.event_type == HistoryEventType.ACTIVITY_FAILED:
                raise rebuild_error(recorded.event_data["error"])
            result = decode_result(recorded.event_data, recorded.payload, self.return_hint)
            if has_hooks:
                await run.host.hook("on_activity_complete", run.instance_id, step_id, self.name, result, True)
            return result

        await run.check_new_step(step_id, f"activity {self.name!r}")
        if run.cancel_requested or deadline_passed(run):
            raise cancelled_error(run)
        if run.has_pending:
            await run.flush()  # the previous result must be durable before this body runs
            if run.cancel_requested:
                raise cancelled_error(run)
        if has_hooks:
            await run.host.hook("on_activity_start", run.instance_id, step_id, self.name, False)
        run.inflight += 1
        try:
            return await self._execute(ctx, run, step_id, args, kwargs)
        finally:
            run.inflight -= 1

    async def _execute(
        self, ctx: WorkflowContext, run: RunState, step_id: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        host = run.host
        policy = self.retry_policy or host.default_retry_policy
        prior = run.attempts.get(step_id, [])
        errors: list[dict[str, Any]] = [e.event_data["error"] for e in prior]
        attempt = len(prior)
        first_started = min([host.clock.now(), *(e.created_at for e in prior[:1]), *self._started(run, step_id)])
        while True:
            attempt += 1
            if deadline_passed(run):  # e.g. during the backoff before this attempt
                raise cancelled_error(run)
            until = None
            if self.timeout_seconds is not None:
                until = await attempt_deadline(run, step_id, self.name, attempt, self.timeout_seconds)
            scope = TxScope(run.storage)
            token = current_scope.set(scope)
            try:
                with lending():  # a slow body lends the run's admission slot (see edda._admission)
                    value = await bounded(lambda: self._call(ctx, args, kwargs), run, until, self._timed_out(attempt))
                try:
                    data, payload = encode_result(value)
                except SerializationError as exc:
                    raise _Unstorable(exc) from exc
            except DeadlineReached:  # the execution deadline interrupted the attempt: the run cancels itself
                await self._rollback(scope)
                deadline_passed(run, reached=True)
                raise cancelled_error(run) from None
            except _Unstorable as wrapped:
                await self._rollback(scope)
                return await self._fail(run, step_id, wrapped.error, attempt, errors, first_started, exhausted=False)
            except Exception as exc:
                await self._rollback(scope)
                errors.append({"attempt": attempt, **_short_error(exc)})
                delay = self._retry_delay(policy, exc, attempt, first_started, host.clock.now())
                if delay is None:
                    exhausted = policy.is_retryable(exc)
                    return await self._fail(run, step_id, exc, attempt, errors, first_started, exhausted=exhausted)
                await self._record_attempt(run, step_id, exc, attempt, errors[-1], delay)
                continue
            finally:
                current_scope.reset(token)
            meta = _retry_metadata(attempt, host.clock.now() - first_started, errors, exhausted=False)
            data |= {"activity_name": self.name, "retry_metadata": meta}
            return await self._complete(run, step_id, scope, data, payload, (args, kwargs, value))

    async def _call(self, ctx: WorkflowContext, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if self.is_async:
            return await self.func(ctx, *args, **kwargs)
        # A sync body cannot be interrupted: past its timeout its thread runs on, and its result is ignored.
        return await asyncio.to_thread(self.func, ctx, *args, **kwargs)

    @staticmethod
    def _started(run: RunState, step_id: str) -> list[datetime]:
        marker = run.attempt_starts.get(step_id)
        return [] if marker is None else [marker.created_at]

    def _timed_out(self, attempt: int) -> str:
        return (
            f"Activity {self.name!r} (attempt {attempt}) did not finish within its timeout of "
            f"{self.timeout_seconds or 0:g} s"
        )

    @staticmethod
    def _retry_delay(
        policy: RetryPolicy, exc: Exception, attempt: int, first_started: datetime, now: datetime
    ) -> float | None:
        """Seconds to wait before the next attempt, or ``None`` when the policy says not to retry."""
        if not policy.is_retryable(exc):
            return None
        delay = policy.calculate_delay(attempt)
        if policy.max_attempts is not None and attempt >= policy.max_attempts:
            return None
        if policy.max_duration is not None and (now - first_started).total_seconds() + delay > policy.max_duration:
            return None
        return delay

    async def _record_attempt(
        self, run: RunState, step_id: str, exc: Exception, attempt: int, error: dict[str, Any], delay: float
    ) -> None:
        """Record the failed attempt durably (a crash during the backoff does not reset the count), then back off."""
        data = {"activity_name": self.name, "attempt": attempt, "error": error, "delay": delay}
        await run.flush(extra=[NewHistoryEvent(step_id, HistoryEventType.ACTIVITY_ATTEMPT_FAILED, data)])
        await run.host.hook("on_activity_retry", run.instance_id, step_id, self.name, exc, attempt, delay)
        with lending():
            await run.host.clock.sleep(until_deadline(run, delay))

    async def _complete(
        self,
        run: RunState,
        step_id: str,
        scope: TxScope,
        data: dict[str, Any],
        payload: bytes | None,
        call: tuple[tuple[Any, ...], dict[str, Any], Any],
    ) -> Any:
        """Commit the result (with the activity's transaction, if it opened one) and return it as replays will."""
        events = [*scope.history, NewHistoryEvent(step_id, HistoryEventType.ACTIVITY_COMPLETED, data, payload)]
        if self.compensation is not None:
            events.append(self._compensation_event(step_id, *call))
        if scope.tx is not None:  # business writes, history and outbox commit together
            await run.flush(
                extra=events,
                extra_outbox=scope.outbox,
                extra_messages=scope.messages,
                extra_callbacks=scope.post_commit,
                tx=scope.tx,
            )
        else:
            await run.commit_now(events, scope.outbox, scope.post_commit, scope.messages)
        result = decode_result(data, payload, self.return_hint)
        await run.host.hook("on_activity_complete", run.instance_id, step_id, self.name, result, False)
        return result

    async def _rollback(self, scope: TxScope) -> None:
        if scope.tx is not None:
            await scope.tx.rollback()
            scope.tx = None
        scope.outbox.clear()
        scope.messages.clear()
        scope.history.clear()
        scope.post_commit.clear()

    async def _fail(
        self,
        run: RunState,
        step_id: str,
        exc: BaseException,
        attempt: int,
        errors: list[dict[str, Any]],
        first_started: Any,
        *,
        exhausted: bool,
    ) -> Any:
        host = run.host
        meta = _retry_metadata(attempt, host.clock.now() - first_started, errors, exhausted=exhausted)
        duration_ms = meta["total_duration_ms"]
        raised: BaseException = exc
        if exhausted:
            raised = RetryExhaustedError(
                f"Activity {self.name!r} failed after {attempt} attempt{'s' if attempt != 1 else ''}: "
                f"{type(exc).__name__}: {exc}",
                total_attempts=attempt,
                total_duration_ms=duration_ms,
                errors=errors,
            )
            raised.__cause__ = exc
            info = error_info(raised) | {"retry_metadata": meta, "cause": error_info(exc)}
        else:
            info = error_info(exc)
        await run.commit_now(
            [
                NewHistoryEvent(
                    step_id,
                    HistoryEventType.ACTIVITY_FAILED,
                    {
                        "activity_name": self.name,
                        "error": info,
                        "retry_metadata": meta,
                    },
                )
            ]
        )
        await host.hook("on_activity_failed", run.instance_id, step_id, self.name, raised)
        raise raised

    def _compensation_event(
        self, step_id: str, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any
    ) -> NewHistoryEvent:
        comp_args, comp_kwargs = bind_compensation(self.compensation, self.func, self.name, args, kwargs, result)
        return NewHistoryEvent(
            step_id,
            HistoryEventType.COMPENSATION_ATTACHED,
            {
                "compensation_name": getattr(self.compensation, "__name__", str(self.compensation)),
                "compensation_key": compensation_key(self.compensation),
                "args": to_storable(comp_args, path="compensation argument"),
                "kwargs": to_storable(comp_kwargs, path="compensation argument"),
            },
        )


class _Unstorable(Exception):
    def __init__(self, error: SerializationError) -> None:
        super().__init__(str(error))
        self.error = error


def _retry_metadata(
    attempt: int, elapsed: timedelta, errors: list[dict[str, Any]], *, exhausted: bool
) -> dict[str, Any]:
    return {
        "total_attempts": attempt,
        "total_duration_ms": int(elapsed.total_seconds() * 1000),
        "exhausted": exhausted,
        "last_error": errors[-1] if errors else None,
        "errors": errors,
    }


def _short_error(exc: BaseException) -> dict[str, Any]:
    return {"error_type": type(exc).__name__, "message": str(exc)}


@overload
def activity(func: Callable[..., Any], /) -> Activity: ...


@overload
def activity(
    *, retry_policy: RetryPolicy | None = None, timeout_seconds: float | None = None
) -> Callable[[Callable[..., Any]], Activity]: ...


def activity(
    func: Callable[..., Any] | None = None,
    /,
    *,
    retry_policy: RetryPolicy | None = None,
    timeout_seconds: float | None = None,
) -> Any:
    """Declare an activity: a unit of work whose result is recorded in history and never re-executed on replay.

    Async functions run on the event loop; sync functions run in a worker thread. The first parameter is the
    :class:`WorkflowContext`. Failures are retried per ``retry_policy`` (else the app's default, else 5 attempts
    with exponential backoff); raise :class:`edda.TerminalError` to fail at once.

    Args:
        retry_policy: how failed attempts are retried.
        timeout_seconds: the longest one attempt may run, start to close. A late attempt is interrupted (an async
            body is cancelled; a sync body's thread cannot be stopped, so its result is ignored) and fails with
            :class:`edda.ActivityTimeoutError`, which the retry policy retries like any error. The attempt's start
            is recorded, so a crash does not reset its clock. ``None`` (default): no limit.

    Example::

        @activity
        async def reserve(ctx: WorkflowContext, item_id: str) -> dict:
            return {"reservation_id": ...}

        @activity(retry_policy=RetryPolicy(max_attempts=3), timeout_seconds=30)
        def charge(ctx: WorkflowContext, amount: float) -> dict:
            ...
    """
    if func is not None:
        return Activity(func, retry_policy=retry_policy, timeout_seconds=timeout_seconds)

    def decorator(f: Callable[..., Any]) -> Activity:
        return Activity(f, retry_policy=retry_policy, timeout_seconds=timeout_seconds)

    return decorator
