"""``DurableWorkflowRunner``: runs a LlamaIndex workflow inside an Edda workflow, durably."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncGenerator, Mapping
from typing import Any
from weakref import WeakKeyDictionary

from workflows.context.state_store import infer_state_type
from workflows.events import Event, InputRequiredEvent, StartEvent, StopEvent
from workflows.handler import WorkflowHandler
from workflows.workflow import Workflow

from edda import EventTimeoutError, RetryPolicy, WorkflowContext, sleep, wait_event
from edda_llamaindex._codec import EventCodec
from edda_llamaindex._errors import WorkflowExecutionError
from edda_llamaindex._events import DurableSleepEvent, DurableWaitEvent, ResumeEvent
from edda_llamaindex._runtime import EddaRuntime
from edda_llamaindex._steps import ENGINE_ERRORS, Abort, StepRecorder

__all__ = ["DurableWorkflowRunner"]

# How many LlamaIndex runs each Edda run (one WorkflowContext) has started: the n-th gets the step ids "llamaindex:n:…".
_RUNS: WeakKeyDictionary[WorkflowContext, int] = WeakKeyDictionary()


class DurableWorkflowRunner:
    """Runs a LlamaIndex ``Workflow`` class inside an Edda workflow, each step invocation an Edda activity.

    A crash or a restart does not lose progress: when the Edda workflow is replayed, the LlamaIndex workflow runs
    again from its start event, and every step invocation already recorded returns its recorded outputs (events,
    ``ctx.store`` changes) without running. Steps run under the real LlamaIndex control loop: which step receives
    which event, collecting, fan-out, ``@catch_error`` and step retry policies behave as they do without Edda.

    Example::

        runner = DurableWorkflowRunner(ResearchFlow)

        @workflow
        async def research(ctx: WorkflowContext, topic: str) -> str:
            return await runner.run(ctx, topic=topic)

    Args:
        workflow_class: the ``Workflow`` subclass (not an instance; one instance is made per run).
        retry_policy: Edda's retry policy for each step invocation (default: the app's). A step that still fails
            is then handed to LlamaIndex as a failure, where the step's own ``retry_policy`` and ``@catch_error``
            handlers apply.
        workflow_kwargs: keyword arguments for ``workflow_class(...)``. ``timeout`` defaults to ``None`` here,
            because a durable workflow may wait for days; LlamaIndex's timeout would restart with every replay.

    Raises:
        TypeError: ``workflow_class`` is not a LlamaIndex ``Workflow`` subclass.
    """

    def __init__(
        self,
        workflow_class: type[Workflow],
        *,
        retry_policy: RetryPolicy | None = None,
        workflow_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        if not (isinstance(workflow_class, type) and issubclass(workflow_class, Workflow)):
            raise TypeError(
                "DurableWorkflowRunner needs a LlamaIndex Workflow subclass (the class itself, not an instance), "
                f"got {workflow_class!r}"
            )
        if retry_policy is not None and not isinstance(retry_policy, RetryPolicy):
            raise TypeError(f"retry_policy must be an edda.RetryPolicy, got {type(retry_policy).__name__}")
        self.workflow_class = workflow_class
        self.retry_policy = retry_policy
        self.workflow_kwargs: dict[str, Any] = {"timeout": None, **(workflow_kwargs or {})}

    async def run(self, ctx: WorkflowContext, *, start_event: StartEvent | None = None, **kwargs: Any) -> Any:
        """Run the workflow to its ``StopEvent`` and return its result.

        Call it from Edda workflow code (not from an activity). ``kwargs`` build the start event, as in
        LlamaIndex's ``Workflow.run(**kwargs)``; or pass ``start_event``.

        Returns:
            The ``StopEvent``'s ``result``, or the stop event itself if the workflow uses its own ``StopEvent``
            subclass (what awaiting LlamaIndex's handler returns).

        Raises:
            WorkflowExecutionError: the LlamaIndex workflow failed; ``__cause__`` is LlamaIndex's exception.
            WorkflowReplayError: a recorded step result no longer fits the workflow's event classes.
        """
        if not isinstance(ctx, WorkflowContext):
            raise TypeError(f"run() takes the Edda WorkflowContext first, got {type(ctx).__name__}")
        if ctx.in_transaction():
            raise RuntimeError("DurableWorkflowRunner.run() belongs in workflow code, not inside an activity.")
        _RUNS[ctx] = n = _RUNS.get(ctx, 0) + 1
        codec = EventCodec()
        recorder = StepRecorder(ctx, scope=f"llamaindex:{n}", retry_policy=self.retry_policy, codec=codec)
        runtime = EddaRuntime(recorder)
        name = self.workflow_class.__name__
        try:
            with runtime.registering():
                flow = self.workflow_class(**self.workflow_kwargs)
            codec.register([*flow.events, DurableSleepEvent, DurableWaitEvent, ResumeEvent, infer_state_type(flow)])
            handler = flow.run(start_event=start_event, **kwargs)
        except Exception as exc:
            raise WorkflowExecutionError(
                f"LlamaIndex workflow {name!r} could not start: {type(exc).__name__}: {exc}", workflow_name=name
            ) from exc
        stop = await _Drive(ctx, recorder, handler, name).run()
        return stop.result if type(stop) is StopEvent else stop


class _Drive:
    """Follows one LlamaIndex run: performs the durable waits it asks for, and ends it with the Edda run."""

    def __init__(self, ctx: WorkflowContext, recorder: StepRecorder, handler: WorkflowHandler, name: str) -> None:
        self._ctx = ctx
        self._recorder = recorder
        self._handler = handler
        self._name = name

    async def run(self) -> StopEvent:
        finished = asyncio.ensure_future(self._handler.stop_event_result())
        stream = self._handler.stream_events()
        try:
            await self._follow(stream, finished)
            return await finished
        except Abort as exc:
            raise exc.cause from None
        except (*ENGINE_ERRORS, WorkflowExecutionError):
            raise
        except Exception as exc:
            raise WorkflowExecutionError(
                f"LlamaIndex workflow {self._name!r} failed: {type(exc).__name__}: {exc}", workflow_name=self._name
            ) from exc
        finally:
            # A wait that suspended the Edda run (or its cancellation) ends the LlamaIndex run here: no step may
            # keep running, or commit, after the Edda run has ended.
            await _stop(self._handler, finished)
            await stream.aclose()

    async def _follow(self, stream: AsyncGenerator[Event, None], finished: asyncio.Future[StopEvent]) -> None:
        while not finished.done():
            upcoming = asyncio.ensure_future(anext(stream))
            try:
                await asyncio.wait({upcoming, finished}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                if not upcoming.done():
                    upcoming.cancel()
                    await asyncio.wait({upcoming})
            if upcoming.cancelled() or upcoming.exception() is not None:
                return  # the stream ended (StopEvent) or the run did
            event = upcoming.result()
            if isinstance(event, DurableSleepEvent | DurableWaitEvent):
                await self._handler.send_event(await self._wait(event))
            elif isinstance(event, InputRequiredEvent):
                # Nobody outside would ever answer it: the run would sit idle for good.
                raise WorkflowExecutionError(
                    f"LlamaIndex workflow {self._name!r} asked for input with {type(event).__name__}, which "
                    "nothing answers when it runs durably. Return DurableWaitEvent(event_type) to wait for a "
                    "CloudEvent (or DurableSleepEvent(seconds) to wait for a time) and accept ResumeEvent.",
                    workflow_name=self._name,
                )

    async def _wait(self, event: DurableSleepEvent | DurableWaitEvent) -> ResumeEvent:
        if isinstance(event, DurableSleepEvent):
            await sleep(self._ctx, event.seconds, timer_id=self._recorder.wait_id("sleep", event))
            return ResumeEvent(data=event.resume_data)
        try:
            received = await wait_event(
                self._ctx,
                event.event_type,
                timeout_seconds=event.timeout_seconds,
                event_id=self._recorder.wait_id("wait_event", event),
            )
        except EventTimeoutError:
            return ResumeEvent(event_type=event.event_type, timed_out=True)
        metadata = {k: v for k, v in dataclasses.asdict(received.metadata).items() if v is not None}
        if received.extensions:
            metadata["extensions"] = dict(received.extensions)
        return ResumeEvent(data=received.data, event_type=received.type, metadata=metadata)


async def _stop(handler: WorkflowHandler, finished: asyncio.Future[StopEvent]) -> None:
    if not finished.done():
        await handler.cancel_run(timeout=5.0)
        if not finished.done():
            finished.cancel()
        await asyncio.wait({finished})
    if not finished.cancelled():
        finished.exception()  # retrieved, so asyncio does not log it as never retrieved
