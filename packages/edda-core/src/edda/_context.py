"""``WorkflowContext``: what a workflow and its activities get as their first argument."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from edda._run import RecurSignal, RunState, TxScope, current_scope
from edda._workflow import get_workflow
from edda.exceptions import NonDeterminismError, SessionUnavailableError
from edda.serialization import to_storable
from edda.storage.records import HistoryEventType, NewHistoryEvent

__all__ = ["ContextStorage", "WorkflowContext"]


class WorkflowContext:
    """What a workflow and its activities get as their first argument.

    Attributes:
        instance_id: the workflow instance's id.
        workflow_name: the workflow function's name.
    """

    def __init__(self, run: RunState) -> None:
        self._run = run
        self.instance_id = run.instance_id
        self.workflow_name = run.workflow_name

    def __repr__(self) -> str:
        return (
            f"WorkflowContext(instance_id={self.instance_id!r}, workflow_name={self.workflow_name!r}, "
            f"is_replaying={self.is_replaying})"
        )

    @property
    def is_replaying(self) -> bool:
        """True while the code is still re-running steps already recorded in history."""
        return self._run.is_replaying

    @property
    def current_step(self) -> int:
        """How many steps (activities, registrations) the code has called so far in this run."""
        return len(self._run.called)

    @property
    def worker_id(self) -> str:
        """The id of the worker running this instance now."""
        return self._run.fence.worker_id

    @property
    def storage(self) -> Any:
        """The storage backend (for reads such as ``get_history``), plus 0.16's ``append_history`` for notes in this
        instance's history (see :class:`ContextStorage`)."""
        return ContextStorage(self._run)

    @property
    def session(self) -> Any:
        """The database session of the current activity's transaction (SQL storage).

        Writes through it commit atomically with the activity's history entry, or roll back with it.
        Do not call ``commit()``/``rollback()`` on it yourself.

        Raises:
            RuntimeError: outside an activity or ``ctx.transaction()`` block, in a sync activity, or when the storage
                has no sessions (``memory://``).
        """
        scope = current_scope.get()
        if scope is None:
            raise SessionUnavailableError(
                "ctx.session is only available inside an @activity or an `async with ctx.transaction():` block."
            )
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            raise SessionUnavailableError(
                "ctx.session is an async session; use it from an async activity (this one is sync and runs in a "
                "worker thread)."
            ) from None
        return scope.ensure_tx().session

    def in_transaction(self) -> bool:
        """True inside an activity (activities are transactional) or a ``ctx.transaction()`` block."""
        return current_scope.get() is not None

    def register_post_commit(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Run ``callback`` after the current transaction commits (never if it rolls back).

        Raises:
            RuntimeError: not inside an activity or ``ctx.transaction()`` block.
        """
        scope = current_scope.get()
        if scope is None:
            raise RuntimeError(
                "register_post_commit() needs a transaction: call it inside an @activity or "
                "an `async with ctx.transaction():` block."
            )
        scope.post_commit.append(callback)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """A transaction block. Inside an activity it is a savepoint of the activity's transaction; in workflow
        code it opens its own transaction, committed at the end of the block together with any outbox events.

        Workflow code re-runs on replay, so writes in a workflow-level block happen again on every replay: put
        writes that must happen once in an activity.
        """
        scope = current_scope.get()
        if scope is not None:
            marks = (len(scope.outbox), len(scope.post_commit), len(scope.history))
            try:
                async with scope.ensure_tx().savepoint():
                    yield
            except BaseException:
                del scope.outbox[marks[0] :], scope.post_commit[marks[1] :], scope.history[marks[2] :]
                raise
            return
        scope = TxScope(self._run.storage)
        token = current_scope.set(scope)
        run = self._run
        try:
            yield
        except BaseException:
            if scope.tx is not None:
                await scope.tx.rollback()
            raise
        else:
            await run.commit_in_transaction(scope)
        finally:
            current_scope.reset(token)

    def patched(self, patch_id: str) -> bool:
        """Whether this instance runs the code of change ``patch_id``: deploy changed workflow code without breaking
        the instances in flight.

        ``True`` for instances that reach this point under the new code (new instances, and old ones that had not
        got this far), and the answer is recorded in history, so it stays ``True`` on every replay. ``False`` for
        instances that passed this point before the change was deployed: they replay the old branch, as recorded::

            if ctx.patched("charge-v2"):
                await charge_with_tax(ctx, order)  # new instances
            else:
                await charge(ctx, order)  # instances that charged before the deploy

        Once no instance needs the old branch (``edda replay`` shows none), delete it and write
        ``ctx.deprecate_patch("charge-v2")`` in place of the ``if``; later, remove that line too.

        Raises:
            ValueError: ``patch_id`` is empty or not a string.
        """
        run = self._run
        _check_patch_id(patch_id)
        if patch_id in run.patches:
            return True
        if run.is_replaying:
            return False  # this point was passed before the change: the old branch, as recorded
        run.patches.add(patch_id)
        marker = NewHistoryEvent(f"patch:{patch_id}", HistoryEventType.PATCH_APPLIED, {"patch_id": patch_id})
        run.add_pending([marker], [], [])
        return True

    def deprecate_patch(self, patch_id: str) -> None:
        """Mark the place of a ``ctx.patched(patch_id)`` whose old branch was deleted.

        It records nothing and accepts instances with or without the patch's marker. An instance that passed this
        point before the change and has not finished cannot run the new code: it fails with a
        :class:`~edda.NonDeterminismError` that names the patch, instead of a confusing divergence later on.
        """
        run = self._run
        _check_patch_id(patch_id)
        if patch_id not in run.patches and run.is_replaying:
            raise NonDeterminismError(
                f"Workflow {run.workflow_name!r} instance {run.instance_id!r} took the old branch of patch "
                f"{patch_id!r}, which this code no longer has (ctx.deprecate_patch). Deploy the code with "
                f"`if ctx.patched({patch_id!r}): ... else: ...` until such instances have finished.",
                position=len(run.consumed) + 1,
                recorded=f"the code before patch {patch_id!r}",
                requested=f"ctx.deprecate_patch({patch_id!r})",
            )

    async def recur(self, *args: Any, **kwargs: Any) -> None:
        """Restart the workflow with fresh history and the same instance id (see the recurrence docs).

        Positional arguments bind to the workflow's parameters in order; the rest are keywords.

        Raises:
            RuntimeError: called inside an activity, or the workflow is not registered.
            TypeError: the arguments do not fit the workflow's parameters.
        """
        run = self._run
        if current_scope.get() is not None:
            raise RuntimeError("ctx.recur() belongs in workflow code, not inside an activity.")
        wf = get_workflow(run.workflow_name)
        if wf is None:
            raise RuntimeError(f"workflow {run.workflow_name!r} is not registered")
        params = [p.name for p in wf.params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        if len(args) > len(params):
            raise TypeError(f"ctx.recur() got {len(args)} positional arguments; {wf.name!r} takes {len(params)}")
        merged = dict(zip(params, args, strict=False))
        overlap = set(merged) & set(kwargs)
        if overlap:
            raise TypeError(f"ctx.recur() got multiple values for {', '.join(sorted(overlap))}")
        merged.update(kwargs)
        raise RecurSignal(merged)


def _check_patch_id(patch_id: object) -> None:
    if not isinstance(patch_id, str) or not patch_id:
        raise ValueError(f"a patch id is a non-empty string such as 'charge-v2', got {patch_id!r}")


class ContextStorage:
    """``ctx.storage``: the app's storage (every method of it), plus ``append_history`` as 0.16 offered it.

    ``append_history`` adds a note of your own to the instance's history: inside an activity or a
    ``ctx.transaction()`` block it commits with that transaction (or not at all if it rolls back); elsewhere it is
    committed before the call returns. Notes are kept for reading (``get_history``) and replay ignores them, so a
    workflow-level block that adds one adds it again on every replay, like any write in workflow code.
    """

    def __init__(self, run: RunState) -> None:
        self._run = run

    def __getattr__(self, name: str) -> Any:
        return getattr(self._run.storage, name)

    async def append_history(
        self, instance_id: str | None, activity_id: str, event_type: str, event_data: dict[str, Any] | None = None
    ) -> None:
        """Append ``(activity_id, event_type, event_data)`` to this instance's history.

        Raises:
            ValueError: ``instance_id`` is another instance, or ``event_type`` is one the engine records itself
                (a note must not look like a step, or replay would take it for one).
        """
        run = self._run
        if instance_id is not None and instance_id != run.instance_id:
            raise ValueError(
                f"append_history can only write the running instance's history ({run.instance_id!r}), "
                f"not {instance_id!r}"
            )
        if event_type in HistoryEventType.__members__.values() or not isinstance(event_type, str) or not event_type:
            raise ValueError(
                f"event_type {event_type!r} is reserved for the engine (or empty); name your note's type yourself, "
                f"e.g. 'OrderSaved'"
            )
        if not isinstance(activity_id, str) or not activity_id:
            raise ValueError(f"activity_id must be a non-empty string, got {activity_id!r}")
        note = NewHistoryEvent(activity_id, event_type, to_storable(dict(event_data or {}), path="event_data"))
        scope = current_scope.get()
        if scope is not None:
            scope.history.append(note)
        else:
            await run.commit_now([note])
