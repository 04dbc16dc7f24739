"""The replayer: run recorded histories against the workflow code as it is now, executing nothing and writing
nothing, to find the instances a deploy would strand.

Rationale: the replay is the engine's own (``RunState`` in dry-run mode), not a model of it, so whatever would make
a worker raise ``NonDeterminismError`` makes the replayer report a divergence at the same step. A dry run ends at
the first step the history does not have (``ReplayReachedEnd``, raised where every new step is checked); the
storage it is given refuses every call, so a path that would write is reported rather than taken.
"""

from __future__ import annotations

import asyncio
import base64
import random
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from edda._context import WorkflowContext
from edda._run import RunState, current_run
from edda._signals import RecurSignal, ReplayReachedEnd, Suspend
from edda._workflow import Workflow, get_workflow
from edda.clock import Clock, IdSource, SystemClock, UuidIdSource
from edda.exceptions import NonDeterminismError, WorkflowCancelledException
from edda.retry import RetryPolicy
from edda.storage.protocol import Storage
from edda.storage.records import (
    FINISHED_STATUSES,
    Fence,
    HistoryEvent,
    InstanceQuery,
    InstanceRecord,
    InstanceStatus,
)

__all__ = [
    "HISTORY_FORMAT",
    "ReplayReport",
    "ReplayResult",
    "load_history_export",
    "replay_export",
    "replay_history",
    "replay_instances",
]

HISTORY_FORMAT = "edda.history/1"  # what `edda history ID --json` writes
_UNFINISHED = (
    InstanceStatus.RUNNING,
    InstanceStatus.WAITING_FOR_TIMER,
    InstanceStatus.WAITING_FOR_EVENT,
    InstanceStatus.WAITING_FOR_MESSAGE,
    InstanceStatus.COMPENSATING,
)


@dataclass(frozen=True)
class ReplayResult:
    """How one instance's history replays against the current code.

    Attributes:
        instance_id, workflow_name, status: the instance (status as recorded).
        outcome: ``"ok"`` (replays cleanly), ``"diverged"`` (the code no longer makes the recorded calls: a worker
            would fail it with ``NonDeterminismError``), ``"error"`` (the replay raised something else, or the code
            tried to write), or ``"unknown-workflow"`` (no such workflow is registered: import its module).
        detail: what happened, for people.
        position: the 1-based step where it diverged (``diverged`` only).
        recorded, requested: the recorded step and the one the code asks for there (``diverged`` only).
    """

    instance_id: str
    workflow_name: str
    status: str
    outcome: str
    detail: str = ""
    position: int | None = None
    recorded: str | None = None
    requested: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


@dataclass
class ReplayReport:
    """The results of a replay run; ``ok`` is False when any instance would be stranded."""

    results: list[ReplayResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    def by_workflow(self) -> dict[str, Counter[str]]:
        """Outcome counts per workflow name."""
        counts: dict[str, Counter[str]] = {}
        for result in self.results:
            counts.setdefault(result.workflow_name, Counter())[result.outcome] += 1
        return counts

    @property
    def problems(self) -> list[ReplayResult]:
        return [r for r in self.results if not r.ok]


class ReplayWriteError(Exception):
    """The code under replay tried to use the storage (a replay must neither read state nor write)."""


class _NoStorage:
    """The storage of a dry run: every call is refused."""

    def __getattr__(self, name: str) -> Any:
        raise ReplayWriteError(f"the replayed code tried to use the storage ({name}) while replaying recorded steps")


class _ReplayHost:
    """The ``RunHost`` of a dry run: no hooks, no storage, nothing delivered."""

    def __init__(self) -> None:
        self.storage: Any = _NoStorage()
        self.clock: Clock = SystemClock()
        self.ids: IdSource = UuidIdSource()
        self.worker_id = "edda-replayer"
        self.default_retry_policy = RetryPolicy()
        self.broker_url: str | None = None

    @property
    def has_hooks(self) -> bool:
        return False

    async def hook(self, name: str, *args: Any) -> None:
        return None

    def started(self, run: RunState) -> None:
        return None

    def committed(self, woken: tuple[str, ...], *, outbox: bool) -> None:
        return None

    def suspended(self, instance_id: str) -> None:
        return None

    def finished(self, instance_id: str) -> None:
        return None

    async def deliver_event(self, event: dict[str, Any]) -> None:
        raise ReplayWriteError("the replayed code tried to deliver an event")


async def replay_history(
    record: InstanceRecord, history: list[HistoryEvent], *, workflow: Workflow | None = None, timeout: float = 10.0
) -> ReplayResult:
    """Replay one instance's recorded ``history`` (of its current iteration) against the registered code.

    Args:
        record: the instance as stored.
        history: its history (``storage.get_history(instance_id)``).
        workflow: the workflow to replay with (default: the one registered under ``record.workflow_name``).
        timeout: seconds the replay may take (workflow code that blocks outside Edda's steps would hang it).
    """
    wf = workflow or get_workflow(record.workflow_name)
    if wf is None:
        return _result(record, "unknown-workflow", f"no workflow {record.workflow_name!r} is registered here")
    run = RunState(
        _ReplayHost(),
        instance_id=record.instance_id,
        workflow_name=wf.name,
        fence=Fence(record.instance_id, "edda-replayer", record.lease_epoch),
        history=[e for e in history if e.iteration == record.iteration],
        wait=record.wait,
        iteration=record.iteration,
    )
    run.dry_run = True
    try:
        return await asyncio.wait_for(_drive(wf, run, record), timeout)
    except TimeoutError:
        return _result(record, "error", f"the replay did not finish within {timeout} s (code blocking outside steps?)")


async def _drive(wf: Workflow, run: RunState, record: InstanceRecord) -> ReplayResult:
    token = current_run.set(run)
    try:
        await wf.func(WorkflowContext(run), **wf.load_input(record.input_data))
        run.check_all_consumed()
        return _result(record, "ok", "replays to the end: the workflow returns")
    except ReplayReachedEnd as end:
        return _at_frontier(record, end)
    except NonDeterminismError as exc:
        return _result(record, "diverged", str(exc), exc.position, exc.recorded, exc.requested)
    except (RecurSignal, Suspend):
        return _result(record, "ok", "replays to the end: the workflow recurs or waits")
    except WorkflowCancelledException:
        return _result(record, "ok", "replays to the cancellation")
    except ReplayWriteError as exc:
        return _result(record, "error", str(exc))
    except Exception as exc:
        if record.status == InstanceStatus.FAILED and (record.error or {}).get("error_type") == type(exc).__name__:
            return _result(record, "ok", f"replays to its recorded failure ({type(exc).__name__})")
        return _result(record, "error", f"the replay raised {type(exc).__name__}: {exc}")
    finally:
        current_run.reset(token)
        run.cancel_timers()


def _at_frontier(record: InstanceRecord, end: ReplayReachedEnd) -> ReplayResult:
    """Every recorded step replayed; a waiting instance must also be waiting where the code now waits."""
    wait = record.wait or {}
    waiting_at = wait.get("step_id")
    if record.status in FINISHED_STATUSES:
        position = None
        detail = f"the instance {record.status}, but the code now goes on to {end.requested} (id {end.step_id!r})"
        return _result(record, "diverged", detail, position, "the end of the workflow", end.requested)
    if waiting_at and waiting_at != end.step_id:
        detail = (
            f"the instance waits at step {waiting_at!r}, but the code now reaches {end.requested} (id {end.step_id!r})"
        )
        return _result(record, "diverged", detail, None, f"a wait at {waiting_at!r}", end.requested)
    return _result(record, "ok", f"replays every recorded step; next: {end.requested}")


def _result(
    record: InstanceRecord,
    outcome: str,
    detail: str,
    position: int | None = None,
    recorded: str | None = None,
    requested: str | None = None,
) -> ReplayResult:
    return ReplayResult(
        record.instance_id, record.workflow_name, record.status, outcome, detail, position, recorded, requested
    )


async def replay_instances(
    storage: Storage,
    *,
    workflow_names: Iterable[str] | None = None,
    finished_sample: int = 0,
    progress: Callable[[ReplayResult], None] | None = None,
) -> ReplayReport:
    """Replay every unfinished instance (and a random sample of ``finished_sample`` finished ones) in ``storage``.

    Nothing is executed and nothing is written; the storage is only read.

    Args:
        storage: an initialized storage (``app.storage`` of any app, a client's too).
        workflow_names: only these workflows (default: all).
        finished_sample: how many finished instances (completed, failed, cancelled) to replay as well, chosen at
            random among the newest 1,000 of each status: they show whether the code still replays histories it
            produced, the same check for instances that start now.
        progress: called after each instance (the CLI counts on a terminal).
    """
    names = set(workflow_names) if workflow_names is not None else None
    report = ReplayReport()
    async for record in _instances(storage, names, finished_sample):
        result = await replay_history(record, await storage.get_history(record.instance_id))
        report.results.append(result)
        if progress is not None:
            progress(result)
    return report


async def _instances(storage: Storage, names: set[str] | None, finished_sample: int) -> AsyncIterator[InstanceRecord]:
    for status in _UNFINISHED:
        async for record in _pages(storage, status, names, limit=None):
            yield record
    if finished_sample > 0:
        pool = []
        for status in sorted(FINISHED_STATUSES):
            pool += [r async for r in _pages(storage, status, names, limit=1000)]
        for record in random.sample(pool, min(finished_sample, len(pool))):
            yield record


async def _pages(storage: Storage, status: str, names: set[str] | None, limit: int | None) -> AsyncIterator[Any]:
    cursor = None
    seen = 0
    while True:
        page = await storage.find_instances(InstanceQuery(status=status, limit=500, cursor=cursor))
        for record in page.instances:
            if names is None or record.workflow_name in names:
                yield record
            seen += 1
            if limit is not None and seen >= limit:
                return
        cursor = page.next_cursor
        if cursor is None:
            return


# -- histories exported to JSON (`edda history ID --json`) ---------------------------------------------------------


def load_history_export(data: Mapping[str, Any]) -> tuple[InstanceRecord, list[HistoryEvent]]:
    """Read what ``edda history ID --json`` wrote back into records.

    Raises:
        ValueError: ``data`` is not such an export (the message says what is wrong).
    """
    if not isinstance(data, Mapping) or data.get("format") != HISTORY_FORMAT:
        raise ValueError(f'not an Edda history export: expected a JSON object with "format": "{HISTORY_FORMAT}"')
    try:
        record = InstanceRecord(**_revive(InstanceRecord, data["instance"]))
        history = [HistoryEvent(**_revive(HistoryEvent, event)) for event in data["history"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"the history export is damaged: {exc}") from None
    return record, history


def _revive(cls: type, values: Mapping[str, Any]) -> dict[str, Any]:
    known = {f.name: str(f.type) for f in fields(cls)}
    revived: dict[str, Any] = {}
    for name, value in values.items():
        if name not in known:
            continue
        kind = known[name]
        if value is not None and "datetime" in kind and isinstance(value, str):
            value = datetime.fromisoformat(value)
        elif value is not None and "bytes" in kind and isinstance(value, Mapping) and "base64" in value:
            value = base64.b64decode(value["base64"])
        revived[name] = value
    return revived


async def replay_export(data: Mapping[str, Any], *, timeout: float = 10.0) -> ReplayResult:
    """Replay a history exported with ``edda history ID --json`` (a golden history kept as a regression test)."""
    record, history = load_history_export(data)
    return await replay_history(record, history, timeout=timeout)
