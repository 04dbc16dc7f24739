"""Each invocation of a LlamaIndex step as an Edda activity.

LlamaIndex's own control loop decides which step runs on which event (by the event types steps accept), retries
with the step's retry policy, collects, fans out and routes ``@catch_error``. This module only replaces the call of
a step: the call becomes an activity whose result (the step's outputs, as JSON) is recorded, and on replay the
recorded outputs are handed to the control loop instead of running the step again.

Activity ids. The control loop may run steps concurrently, so the order in which invocations start differs between
a first run and its replay. An invocation's id is therefore derived from what it is (the step's name, a digest of
the event or events it was given, its retry number) plus how many identical invocations this run has made before,
not from its position.

Workflow state. Steps may change ``ctx.store``; a replayed step does not run, so its changes would be lost. After
a step changes the state, the state is recorded with its result under an increasing version, and a replay puts
the newest recorded state back into the store.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from workflows.context.state_store import InMemoryStateStore, StateStore
from workflows.events import Event
from workflows.runtime.types.results import (
    RetryAttempt,
    StepWorkerFailed,
    StepWorkerOutput,
    StepWorkerState,
)
from workflows.runtime.types.step_function import StepWorkerFunction
from workflows.workflow import Workflow

from edda import Activity, RetryPolicy, TerminalError, WorkflowContext
from edda.exceptions import LeaseLostError, NonDeterminismError, StorageUnavailableError, WorkflowCancelledException
from edda_llamaindex._codec import EventCodec, UnstorableOutputError
from edda_llamaindex._errors import WorkflowReplayError

__all__ = ["ENGINE_ERRORS", "Abort", "StepRecorder"]

# Errors of the Edda engine itself: they end the Edda run, whatever the LlamaIndex workflow would do with a failure.
ENGINE_ERRORS: tuple[type[BaseException], ...] = (
    WorkflowCancelledException,
    NonDeterminismError,
    LeaseLostError,
    StorageUnavailableError,
)


class Abort(BaseException):
    """Carries an error out of a step past LlamaIndex's ``except Exception`` (which would retry or route it) so that
    the LlamaIndex run ends and the runner re-raises ``cause``."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


@dataclass
class _Call:
    """One invocation of a step, as the control loop asked for it."""

    worker: StepWorkerFunction
    state: StepWorkerState
    step_name: str
    event: Event
    workflow: Workflow
    bound_events: dict[str, Event] | None
    retry: RetryAttempt


async def _execute_step(ctx: WorkflowContext, recorder: StepRecorder, call: _Call) -> dict[str, Any]:
    """The activity: run the step; a failure is raised so Edda retries it; the outputs are returned as JSON."""
    outputs = await call.worker(
        state=call.state,
        step_name=call.step_name,
        event=call.event,
        workflow=call.workflow,
        bound_events=call.bound_events,
        retry=call.retry,
    )
    for item in outputs:
        if isinstance(item, StepWorkerFailed):
            raise item.exception
    try:
        encoded = recorder.codec.encode_outputs(outputs)
        state = recorder.snapshot_state()
    except (UnstorableOutputError, ValueError) as exc:
        raise TerminalError(f"Step {call.step_name!r} cannot be recorded: {exc}") from exc
    return {"outputs": encoded, **state}


class StepRecorder:
    """Wraps a workflow's step functions so that each invocation is an Edda activity (see the module docstring)."""

    def __init__(
        self, ctx: WorkflowContext, *, scope: str, retry_policy: RetryPolicy | None, codec: EventCodec
    ) -> None:
        self.codec = codec
        self._ctx = ctx
        self._scope = scope
        self._retry_policy = retry_policy
        self._activities: dict[str, Activity] = {}
        self._occurrences: Counter[str] = Counter()
        self._store: InMemoryStateStore[Any] | None = None
        self._state_version = 0
        self._last_state: dict[str, Any] | None = None

    def attach_store(self, store: StateStore[Any] | None) -> None:
        """The run's ``ctx.store``, whose changes are recorded with each step."""
        if store is not None and not isinstance(store, InMemoryStateStore):
            raise TypeError(f"expected the asyncio runtime's in-memory state store, got {type(store).__name__}")
        self._store = store

    def wrap(self, steps: Mapping[str, StepWorkerFunction]) -> dict[str, StepWorkerFunction]:
        """The same steps, each invocation recorded as an activity."""
        return {name: self._durable(worker) for name, worker in steps.items()}

    def wait_id(self, kind: str, event: Event) -> str:
        """The Edda step id of the durable wait a ``DurableSleepEvent`` / ``DurableWaitEvent`` asks for."""
        return self._next_id(kind, self.codec.fingerprint(event))

    def snapshot_state(self) -> dict[str, Any]:
        """The store's state if a step changed it since the last record (``{}`` otherwise), with its version."""
        if self._store is None:
            return {}
        payload = self._store.to_dict(self.codec)
        if payload == self._last_state:
            return {}
        self._state_version += 1
        self._last_state = payload
        return {"state": payload, "state_version": self._state_version}

    def _durable(self, worker: StepWorkerFunction) -> StepWorkerFunction:
        async def durable_step(
            state: StepWorkerState,
            step_name: str,
            event: Event,
            workflow: Workflow,
            bound_events: dict[str, Event] | None = None,
            retry: RetryAttempt | None = None,
        ) -> list[StepWorkerOutput]:
            attempt = retry or RetryAttempt()
            call = _Call(worker, state, step_name, event, workflow, bound_events, attempt)
            activity_id = self._step_id(call)
            try:
                record = await self._activity(step_name)(self._ctx, self, call, activity_id=activity_id)
            except ENGINE_ERRORS as exc:
                raise Abort(exc) from exc
            except Exception as exc:  # the step failed for good as far as Edda goes: LlamaIndex decides what next
                return [StepWorkerFailed(exception=exc, failed_at=time.time())]
            # Also after a live run: the control loop gets the outputs as a replay will, so what the next steps
            # receive (and their activity ids) is the same in both.
            return await self._recorded(step_name, activity_id, record)

        return durable_step

    def _activity(self, step_name: str) -> Activity:
        act = self._activities.get(step_name)
        if act is None:
            act = self._activities[step_name] = Activity(_execute_step, name=step_name, retry_policy=self._retry_policy)
        return act

    def _step_id(self, call: _Call) -> str:
        payload = call.state.collection_release_payload
        digest = self.codec.fingerprint(
            call.step_name,
            call.event,
            call.bound_events,
            sorted(self.codec.fingerprint(e) for e in payload.events) if payload is not None else None,
            call.retry.retry_number,
        )
        return self._next_id(call.step_name, digest)

    def _next_id(self, name: str, digest: str) -> str:
        key = f"{name}:{digest}"
        self._occurrences[key] += 1
        return f"{self._scope}:{key}#{self._occurrences[key]}"

    async def _recorded(self, step_name: str, activity_id: str, record: Any) -> list[StepWorkerOutput]:
        """The recorded outputs, after putting the recorded state back (if it is newer than the store's)."""
        try:
            outputs = self.codec.decode_outputs(record["outputs"])
            version = record.get("state_version")
            if version is not None and version > self._state_version and self._store is not None:
                self._store.add_seed(record["state"], self.codec)
                await self._store.ensure_seeded()  # now, so that the next snapshot (a sync read) sees it
                self._state_version, self._last_state = version, record["state"]
        except Exception as exc:
            error = WorkflowReplayError(
                f"The recorded result of step {step_name!r} (activity {activity_id!r}) cannot be loaded: "
                f"{type(exc).__name__}: {exc}. Event classes must appear in the workflow's step signatures or "
                "be importable by module and name; if the code changed while this instance was in flight, "
                "deploy code that can still read the recorded events.",
                step_name=step_name,
                activity_id=activity_id,
            )
            error.__cause__ = exc
            raise Abort(error) from exc
        return outputs
