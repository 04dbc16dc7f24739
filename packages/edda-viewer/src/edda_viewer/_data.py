"""What the pages read and do, over an :class:`edda.EddaApp`: no NiceGUI here.

Reads go through the storage SPI (``find_instances`` with a keyset cursor, ``get_instance``, ``get_history``,
``list_outbox_events``): no ``COUNT(*)`` (but the retention line's, once per page load, with ``--retention-days``)
and no ``OFFSET``. Actions go through the app's client API
(``start_workflow``, ``cancel_workflow``, ``resend_outbox_event``, ``skip_outbox_event``), which validates their
input.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from edda import EddaApp, Workflow, get_all_workflows
from edda.storage.records import HistoryEvent, InstanceQuery, InstanceRecord, OutboxEvent
from edda_viewer._filters import ListFilters

__all__ = ["ActionRefused", "Cursor", "InstanceDetail", "InstanceListPage", "ViewerData"]

Cursor = tuple[datetime, str]
"""Where a page of the instance list continues: the (``created_at``, ``instance_id``) of the previous page's last
row (the list is ordered by both, descending)."""


logger = logging.getLogger("edda_viewer")


class ActionRefused(PermissionError):
    """An action was asked of a read-only viewer."""


@dataclass(frozen=True)
class InstanceListPage:
    """One page of the instance list, newest first; ``next_cursor`` is None on the last page."""

    rows: list[InstanceRecord]
    next_cursor: Cursor | None

    def fingerprint(self) -> tuple[tuple[str, str, datetime], ...]:
        """Changes whenever a row is added, removed or updated (what the live update compares)."""
        return tuple((r.instance_id, r.status, r.updated_at) for r in self.rows)


@dataclass(frozen=True)
class InstanceDetail:
    """An instance with one iteration of its history and, when its code is imported here, its workflow."""

    record: InstanceRecord
    history: list[HistoryEvent]
    iteration: int
    workflow: Workflow | None

    def fingerprint(self) -> tuple[Any, ...]:
        last = self.history[-1].seq if self.history else None
        return (self.record.status, self.record.updated_at, self.iteration, len(self.history), last)


def _key(record: InstanceRecord) -> Cursor:
    return (record.created_at, record.instance_id)


class ViewerData:
    """The viewer's data access.

    Args:
        app: an initialized app (a client, ``run_workflows=False``, for the standalone viewer).
        read_only: refuse every action.
    """

    def __init__(self, app: EddaApp, *, read_only: bool = False) -> None:
        self.app = app
        self.read_only = read_only

    # -- reading ------------------------------------------------------------------------------------------------

    async def list_instances(self, filters: ListFilters, cursor: Cursor | None = None) -> InstanceListPage:
        """One page of instances matching ``filters``, after ``cursor``.

        A search matches the workflow name or the instance id: the storage filters combine with AND, so this is
        two keyset queries merged in order, each reading at most one page plus one row.
        """
        base = InstanceQuery(
            status=filters.status,
            started_after=filters.started_after,
            started_before=filters.started_before,
            input_filters=filters.input_filters,
            limit=filters.page_size,
            cursor=cursor,
        )
        storage = self.app.storage
        if not filters.search:
            page = await storage.find_instances(base)
            return InstanceListPage(page.instances, page.next_cursor)
        by_name, by_id = await asyncio.gather(
            storage.find_instances(replace(base, workflow_name=filters.search)),
            storage.find_instances(replace(base, instance_id=filters.search)),
        )
        merged: dict[str, InstanceRecord] = {r.instance_id: r for r in [*by_name.instances, *by_id.instances]}
        ordered = sorted(merged.values(), key=_key, reverse=True)
        rows = ordered[: filters.page_size]
        more = len(ordered) > filters.page_size or by_name.next_cursor is not None or by_id.next_cursor is not None
        return InstanceListPage(rows, _key(rows[-1]) if more and rows else None)

    async def retention_due(self, days: float) -> tuple[datetime, int]:
        """The cutoff of a ``days`` retention period and how many finished instances are past it (what an app with
        ``instance_retention_days=days`` deletes)."""
        cutoff = self.app.clock.now() - timedelta(days=days)
        return cutoff, await self.app.storage.count_expired_instances(finished_before=cutoff)

    async def instance_detail(self, instance_id: str, *, iteration: int | None = None) -> InstanceDetail | None:
        """The instance and the history of ``iteration`` (default: its current one), or None if it does not exist."""
        record = await self.app.storage.get_instance(instance_id)
        if record is None:
            return None
        shown = record.iteration if iteration is None or not 0 <= iteration <= record.iteration else iteration
        history = await self.app.storage.get_history(instance_id, iteration=shown)
        return InstanceDetail(record, history, shown, self.workflow(record.workflow_name))

    def workflows(self) -> dict[str, Workflow]:
        """The workflows registered in this process (imported with ``-m``, or defined by the embedding app), without
        Edda's internal ones (``edda.on_event.<type>`` runs ``on_event`` handlers: started by events, not by hand)."""
        return {name: wf for name, wf in sorted(get_all_workflows().items()) if not name.startswith("edda.")}

    def workflow(self, name: str) -> Workflow | None:
        return get_all_workflows().get(name)

    async def outbox(self, *, status: str | None = None, limit: int = 100) -> list[OutboxEvent]:
        """Outbox events in commit order, optionally only those with ``status``."""
        return await self.app.list_outbox_events(status=status, limit=limit)

    @property
    def outbox_actions(self) -> bool:
        """Whether re-send and skip are offered (not in a read-only viewer)."""
        return not self.read_only

    # -- acting -------------------------------------------------------------------------------------------------

    def _check_writable(self, action: str) -> None:
        if self.read_only:
            raise ActionRefused(f"This viewer is read-only (--read-only); it cannot {action}.")

    async def start(self, workflow: str, kwargs: dict[str, Any], *, instance_id: str | None = None) -> str:
        """Store a new instance of ``workflow``; a worker that defines it runs it. Returns its id.

        Raises:
            ActionRefused: the viewer is read-only.
            edda.InvalidInputError: ``kwargs`` do not match the workflow's signature.
            edda.WorkflowNotFoundError: no such workflow is registered here.
        """
        self._check_writable("start workflows")
        return await self.app.start_workflow(workflow, kwargs, instance_id=instance_id or None)

    async def cancel(self, instance_id: str, *, wait: float = 2.0) -> bool:
        """Request the cancellation of an instance; returns whether it is already done (compensations run).

        Where this app runs workflows, it runs the compensations itself and this waits up to ``wait`` seconds for
        them; a client app records the request and a worker that has the code runs them.

        Raises:
            ActionRefused: the viewer is read-only.
            edda.WorkflowNotFoundError: no such instance.
            edda.WorkflowStateError: it already finished.
        """
        self._check_writable("cancel workflows")
        task = asyncio.ensure_future(self.app.cancel_workflow(instance_id))
        done, _ = await asyncio.wait({task}, timeout=wait)
        if done:
            task.result()
            record = await self.app.storage.get_instance(instance_id)
            return record is not None and record.is_finished
        task.add_done_callback(_log_late_failure)
        return False

    async def resend_outbox(self, event_id: str) -> None:
        """Send a failed, expired or skipped outbox event again."""
        self._check_writable("re-send outbox events")
        await self.app.resend_outbox_event(event_id)

    async def skip_outbox(self, event_id: str) -> None:
        """Give up on a pending or failed outbox event."""
        self._check_writable("skip outbox events")
        await self.app.skip_outbox_event(event_id)


def _log_late_failure(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.warning("Cancelling an instance failed: %s", task.exception())
