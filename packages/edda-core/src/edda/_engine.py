"""The replay engine: runs one instance from its history to its next resting point.

A run re-executes the workflow function from the top. Recorded steps return their recorded outcome; new steps run
and are recorded. The run ends when the function returns (completed), raises (compensate, then failed), is
cancelled (compensate, then cancelled), or recurs (fresh history, same instance). A crash at any point leaves the
history as of the last commit; the next run continues from there.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from edda._compensation import call_compensation, pending_compensations
from edda._context import WorkflowContext
from edda._errors import error_info, rebuild_error
from edda._hookcall import hooks_of, run_trace_context
from edda._run import RecurSignal, RunHost, RunState, StorageFault, Suspend, TxScope, current_run, current_scope
from edda._timeouts import deadline_passed, execution_deadline
from edda._workflow import Workflow
from edda.exceptions import LeaseLostError, NonDeterminismError, WorkflowCancelledException
from edda.hooks import RunOutcome
from edda.serialization import to_storable
from edda.storage.records import (
    Fence,
    HistoryEvent,
    HistoryEventType,
    InstanceRecord,
    InstanceStatus,
    InstanceUpdate,
    NewHistoryEvent,
)

logger = logging.getLogger("edda")


def _error_record(exc: BaseException) -> dict[str, Any]:
    info = error_info(exc)
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    info["traceback"] = tb[-4000:]
    return info


class Engine:
    """Runs instances for one worker, which hosts the runs (:class:`edda._run.RunHost`)."""

    def __init__(self, host: RunHost) -> None:
        self.host = host
        self.storage = host.storage
        self.clock = host.clock
        self.worker_id = host.worker_id

    async def run(self, wf: Workflow, record: InstanceRecord, history: list[HistoryEvent] | None) -> None:
        """Run ``record`` (already claimed by this worker) until it completes, fails, is cancelled or suspends."""
        # The run's task copied the context of whoever spawned it, which may be an activity that started this
        # workflow: its transaction scope is not this run's (workflow code would think it runs in an activity).
        current_scope.set(None)
        loaded: list[HistoryEvent] = (
            history if history is not None else await self.storage.get_history(record.instance_id)
        )
        trace: dict[str, str] | None = None  # the instance's trace context (hooks), carried across ctx.recur()
        while True:
            fence = Fence(record.instance_id, self.worker_id, record.lease_epoch)
            run = RunState(
                self.host,
                instance_id=record.instance_id,
                workflow_name=wf.name,
                fence=fence,
                history=loaded,
                cancel_requested=record.cancel_requested,
                wait=record.wait,
                iteration=record.iteration,
                deadline=execution_deadline(record.created_at, wf.execution_timeout_seconds),
                execution_timeout=wf.execution_timeout_seconds,
            )
            self.host.started(run)
            ctx = WorkflowContext(run)
            token = current_run.set(run)
            outcome = RunOutcome.INTERRUPTED
            try:
                if self.host.has_hooks:
                    trace = await self._begin_run(run, trace)
                if record.status == InstanceStatus.COMPENSATING or record.cancel_requested:
                    await self._resume_compensation(run, ctx, record)
                    outcome = RunOutcome.FINISHED
                    return
                next_record = await self._run_body(wf, run, ctx, record)
                outcome = next_record if isinstance(next_record, RunOutcome) else RunOutcome.RECURRED
            except LeaseLostError:
                logger.warning(
                    "Instance %s was taken over by another worker; this worker stops running it.", record.instance_id
                )
                return
            finally:
                if self.host.has_hooks:
                    await self.host.hook("on_workflow_run_end", run.instance_id, wf.name, outcome)
                current_run.reset(token)
                run.cancel_timers()
            if isinstance(next_record, RunOutcome):
                return
            record, loaded = next_record, []

    async def _begin_run(self, run: RunState, carried: dict[str, str] | None) -> dict[str, str] | None:
        """Tell the hooks a run begins, with the instance's trace context; a new instance's first run (or a new
        iteration) keeps that context in its history, committed with the run's first write."""
        trace, note = await run_trace_context(
            hooks_of(self.host), run.instance_id, run.workflow_name, run.history, carried
        )
        if note is not None:
            run.pending.append(note)
        await self.host.hook("on_workflow_run_start", run.instance_id, run.workflow_name, trace)
        return trace

    async def _run_body(
        self, wf: Workflow, run: RunState, ctx: WorkflowContext, record: InstanceRecord
    ) -> InstanceRecord | RunOutcome:
        """Run the workflow function; returns the record to run again (``ctx.recur()``), or how the run ended
        (finished or suspended)."""
        kwargs: dict[str, Any] = {}
        if deadline_passed(run):  # woken at its execution deadline (or resumed after it): cancel, not replay
            await self._compensate_and_finish(run, ctx, None, cancelled=True, info=run.cancel_info)
            return RunOutcome.FINISHED
        try:
            kwargs = wf.load_input(record.input_data)
            result = await wf.func(ctx, **kwargs)
            run.check_all_consumed()
            if run.cancel_requested:
                raise WorkflowCancelledException(f"Workflow instance {run.instance_id!r} was cancelled")
            output = to_storable(result, path=f"the return value of workflow {wf.name!r}")
        except Suspend:
            self.host.suspended(run.instance_id)
            return RunOutcome.SUSPENDED
        except RecurSignal as signal:
            # Parameters the call leaves out keep their current values (`await ctx.recur()` loops on the same input).
            new_input = wf.prepare_input(kwargs | signal.kwargs)
            iteration = record.iteration + 1
            await run.flush(
                InstanceUpdate(
                    status=InstanceStatus.RUNNING, iteration=iteration, input_data=new_input, wake_at=None, wait=None
                )
            )
            return replace(record, iteration=iteration, input_data=new_input, status=InstanceStatus.RUNNING, wait=None)
        except WorkflowCancelledException:
            await self._compensate_and_finish(run, ctx, None, cancelled=True, info=run.cancel_info)
            return RunOutcome.FINISHED
        except NonDeterminismError as exc:
            # The code cannot be trusted to describe what to undo: fail without compensating, keep the history.
            logger.error("%s", exc)
            await self._finish(run, InstanceStatus.FAILED, _error_record(exc), exc)
            return RunOutcome.FINISHED
        except (LeaseLostError, StorageFault):
            raise
        except Exception as exc:
            await self._compensate_and_finish(run, ctx, exc, cancelled=False)
            return RunOutcome.FINISHED
        await run.flush(
            InstanceUpdate(
                status=InstanceStatus.COMPLETED,
                output_data=output,
                completed_at=self.clock.now(),
                wake_at=None,
                wait=None,
                release_lease=True,
            )
        )
        self.host.finished(run.instance_id)
        await self.host.hook("on_workflow_complete", run.instance_id, wf.name, result)
        return RunOutcome.FINISHED

    async def _resume_compensation(self, run: RunState, ctx: WorkflowContext, record: InstanceRecord) -> None:
        info = record.error or {}
        cancelled = record.cancel_requested or info.get("final_status") == InstanceStatus.CANCELLED
        error = None if cancelled or not info else rebuild_error(info)
        await self._compensate_and_finish(run, ctx, error, cancelled=cancelled, info=info or None)

    async def _compensate_and_finish(
        self,
        run: RunState,
        ctx: WorkflowContext,
        error: BaseException | None,
        *,
        cancelled: bool,
        info: Mapping[str, Any] | None = None,
    ) -> None:
        final = InstanceStatus.CANCELLED if cancelled else InstanceStatus.FAILED
        if info is None:
            info = _error_record(error) if error is not None else None
        todo = pending_compensations(run.history, run.committed + run.pending)
        if todo:
            marker = dict(info or {}) | {"final_status": final}
            await run.flush(InstanceUpdate(status=InstanceStatus.COMPENSATING, error=marker, wake_at=None, wait=None))
            for registration_id, data in todo:
                await self._run_one_compensation(run, ctx, registration_id, data)
        await self._finish(run, final, info, error)

    async def _run_one_compensation(
        self, run: RunState, ctx: WorkflowContext, registration_id: str, data: dict[str, Any]
    ) -> None:
        scope = TxScope(run.storage)
        token = current_scope.set(scope)
        failure: BaseException | None = None
        try:
            await call_compensation(ctx, data)
        except Exception as exc:
            failure = exc
            logger.exception("Compensation %s of instance %s failed", data.get("compensation_name"), run.instance_id)
        finally:
            current_scope.reset(token)
        if failure is None:
            event = NewHistoryEvent(
                registration_id,
                HistoryEventType.COMPENSATION_EXECUTED,
                {"compensation_name": data.get("compensation_name")},
            )
            await run.flush(
                extra=[*scope.history, event], extra_outbox=scope.outbox, extra_callbacks=scope.post_commit, tx=scope.tx
            )
            return
        if scope.tx is not None:
            await scope.tx.rollback()
        await run.flush(
            extra=[
                NewHistoryEvent(
                    registration_id,
                    HistoryEventType.COMPENSATION_FAILED,
                    {"compensation_name": data.get("compensation_name"), "error": error_info(failure)},
                )
            ]
        )

    async def _finish(
        self, run: RunState, status: str, info: Mapping[str, Any] | None, error: BaseException | None
    ) -> None:
        clean = None if info is None else {k: v for k, v in info.items() if k != "final_status"}
        await run.flush(
            InstanceUpdate(
                status=status, error=clean, completed_at=self.clock.now(), wake_at=None, wait=None, release_lease=True
            )
        )
        self.host.finished(run.instance_id)
        if status == InstanceStatus.CANCELLED:
            await self.host.hook("on_workflow_cancelled", run.instance_id, run.workflow_name)
        else:
            failure = error if isinstance(error, Exception) else RuntimeError(str((info or {}).get("message")))
            await self.host.hook("on_workflow_failed", run.instance_id, run.workflow_name, failure)
