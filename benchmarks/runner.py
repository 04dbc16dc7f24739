"""The job matrix: systems x databases x workloads x runs, each run in a fresh process on a fresh database.

Runs are interleaved (run 1 of every cell, then run 2, ...) so slow drift of the machine spreads over all systems.
On PostgreSQL the commits of a W1/W2 run are counted over the child's whole life, then the count of a BASELINE
child (same system: setup, warm-up, teardown, nothing measured) is subtracted, once per system and run. W3-W6 are
not commit-counted; their cells, and those of W7-W10, come in variants (:data:`benchmarks.spec.VARIANTS`), some for
one system only. A system runs only on the databases it supports (:attr:`benchmarks.venvs.Target.dbs`). During its
measured phase a child may ask for probes (:mod:`benchmarks.probing`), answered here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.commits import CommitCounter, Counts
from benchmarks.databases import PgAdmin, Provisioned, fresh_database, redact
from benchmarks.model import Cell, Options, RunRecord
from benchmarks.mysqladmin import MyAdmin
from benchmarks.probing import Prober
from benchmarks.spec import (
    ACTIVITIES_PER_WORKFLOW,
    COMMIT_COUNTED,
    FLOOR_VARIANTS,
    VARIANT_WORKLOADS,
    VARIANTS,
    WORKLOADS,
    Job,
)
from benchmarks.summary import meta, progress, series
from benchmarks.supervisor import ChildOutcome, ProbeHandler, run_child
from benchmarks.venvs import FLOOR, SYSTEMS, Target, interpreter_for

Log = Callable[[str], None]

# A PostgreSQL run during which the server restarted (someone else's tests on a shared server) is measured again.
RESTART_RETRIES = 2


def _cells(opts: Options) -> list[Cell]:
    cells: list[Cell] = []
    for db in opts.dbs:
        systems = [s for s in opts.systems if db in SYSTEMS[s].dbs]
        for workload in opts.workloads:
            if workload == "FLOOR":
                cells.extend(Cell("FLOOR", db, FLOOR.key, variant) for variant in FLOOR_VARIANTS[db])
            elif workload in VARIANT_WORKLOADS:
                for variant in VARIANTS[workload].get(db, ()):
                    if opts.variants and not any(part in variant.label for part in opts.variants):
                        continue
                    chosen = [s for s in systems if not variant.systems or s in variant.systems]
                    cells.extend(Cell(workload, db, system, variant.label) for system in chosen)
            else:
                cells.extend(Cell(workload, db, system) for system in systems)
    return cells


def _extra(cell: Cell, scale: float) -> dict[str, str]:
    for variant in VARIANTS.get(cell.workload, {}).get(cell.db, ()):
        if variant.label == cell.variant:
            extra = dict(variant.extra)
            for key, value in variant.scaled:
                least = 2 if key in ("steps", "workflows") else 1
                extra[key] = str(max(least, round(value * scale)))
            return extra
    return {}


def _job(cell: Cell, url: str, scale: float) -> tuple[Job, float]:
    """The child's job and the runner's time limit for its measured phase."""
    if cell.workload == "BASELINE":
        return Job(workload="BASELINE", db=cell.db, db_url=url, deadline_s=30.0), 60.0
    spec = WORKLOADS[cell.workload]
    if cell.workload == "FLOOR":
        job = Job(
            workload="FLOOR",
            db=cell.db,
            db_url=url,
            duration_s=max(0.5, spec.duration_s * scale),
            max_iterations=spec.max_iterations,
            deadline_s=spec.timeout_s - 10,
            variant=cell.variant,
        )
    else:
        workflows = max(1, round(spec.workflows * scale))
        job = Job(
            workload=cell.workload,
            db=cell.db,
            db_url=url,
            workflows=workflows,
            deadline_s=spec.timeout_s - 10,
            variant=cell.variant,
            extra=_extra(cell, scale),
        )
    return job, spec.timeout_s


def _units(cell: Cell, job: Job, metrics: dict[str, Any]) -> int:
    """Activities of completed workflows (W1/W2) or iterations (FLOOR)."""
    if cell.workload == "FLOOR":
        return int(metrics.get("iterations") or 0)
    return (job.workflows - int(metrics.get("failed") or 0)) * ACTIVITIES_PER_WORKFLOW


def _ratio(count: int | None, units: int) -> float | None:
    return count / units if count is not None and units else None


class Suite:
    def __init__(self, opts: Options, log: Log) -> None:
        self.opts = opts
        self.log = log
        self.pg: PgAdmin | None = None
        self.my: MyAdmin | None = None
        self.counter: CommitCounter | None = None
        self.notes: dict[str, str] = {}
        self.targets: dict[str, Target] = {key: SYSTEMS[key] for key in opts.systems}
        if "FLOOR" in opts.workloads:
            self.targets[FLOOR.key] = FLOOR
        self.pythons: dict[str, Path] = {}
        self.python_problems: dict[str, str] = {}
        self.records: dict[Cell, list[RunRecord]] = {}
        self.baselines: dict[tuple[str, int], Counts | None] = {}

    async def _prepare(self) -> None:
        if "postgres" in self.opts.dbs:
            try:
                self.pg = await PgAdmin.connect()
                self.counter = CommitCounter(self.pg)
                await self.counter.open()
                self.notes["postgres_admin"] = self.pg.kind
                if self.counter.wal_problem:
                    self.log(f"durable-commit counting off: {self.counter.wal_problem}")
            except RuntimeError as exc:
                self.notes["postgres_problem"] = str(exc)
                self.log(f"postgres unavailable: {exc}")
        if "mysql" in self.opts.dbs:
            try:
                self.my = await MyAdmin.connect()
                self.notes["mysql_admin"] = self.my.kind
            except RuntimeError as exc:
                self.notes["mysql_problem"] = str(exc)
                self.log(f"mysql unavailable: {exc}")
        for key, target in self.targets.items():
            try:
                self.pythons[key] = interpreter_for(target, self.log)
            except (RuntimeError, OSError) as exc:
                self.python_problems[key] = redact(str(exc))
                self.log(f"{key} unavailable: {self.python_problems[key]}")

    async def _close(self) -> None:
        if self.counter is not None:
            self.notes["wal_commits"] = self.counter.wal_problem or "pg_walinspect"
            await self.counter.close()
        if self.pg is not None:
            await self.pg.close()
        if self.my is not None:
            await self.my.close()

    async def _measure(self, cell: Cell, scale: float) -> tuple[Job, ChildOutcome, Counts | None]:
        """One child on one fresh database, and (PostgreSQL) its commits from database creation to child exit."""
        admin = self.my if cell.db == "mysql" else self.pg
        async with fresh_database(cell.db, admin, self.opts.tmp_root) as database:
            job, limit_s = _job(cell, database.url, scale)
            counted = cell.db == "postgres" and cell.workload in (*COMMIT_COUNTED, "BASELINE")
            counter = self.counter if counted else None
            before = await counter.snapshot(database.name) if counter else None
            probers: list[Prober] = []
            outcome = await run_child(
                self.pythons[cell.system],
                self.targets[cell.system].module,
                job,
                limit_s,
                probes=lambda pid: self._prober(database, pid, probers),
            )
            if probers and probers[0].log:
                outcome.info["probes"] = probers[0].log
            counts = None
            if counter is not None and before is not None:
                counts = await counter.counts(database.name, before, await counter.snapshot(database.name))
        return job, outcome, counts

    def _prober(self, database: Provisioned, pid: int, made: list[Prober]) -> ProbeHandler:
        prober = Prober(database, pid, pg=self.pg, my=self.my, counter=self.counter)
        made.append(prober)
        return prober

    async def _server_started(self, cell: Cell) -> str | None:
        if cell.db != "postgres" or self.pg is None:
            return None
        try:
            return await self.pg.server_started()
        except Exception:  # unreachable right now: treat as "changed", the run is then measured again
            return "unknown"

    async def _baseline(self, system: str, run: int) -> Counts | None:
        key = (system, run)
        if key not in self.baselines:
            _, outcome, counts = await self._measure(Cell("BASELINE", "postgres", system), 1.0)
            self.baselines[key] = counts if outcome.status == "ok" else None
            self.log(f"      baseline {system} postgres: {counts} ({outcome.status})")
        return self.baselines[key]

    async def _one(self, cell: Cell, run: int) -> RunRecord:
        if cell.db == "postgres" and self.pg is None:
            return RunRecord(run=run, status="unavailable", seconds=0.0, error=self.notes.get("postgres_problem", ""))
        if cell.db == "mysql" and self.my is None:
            return RunRecord(run=run, status="unavailable", seconds=0.0, error=self.notes.get("mysql_problem", ""))
        if cell.system in self.python_problems:
            return RunRecord(run=run, status="unavailable", seconds=0.0, error=self.python_problems[cell.system])
        restarts = 0
        while True:
            before = await self._server_started(cell)
            try:
                job, outcome, counts = await self._measure(cell, self.opts.scale)
            except Exception as exc:  # provisioning or launch failed; the suite goes on
                outcome = ChildOutcome(status="error", error=redact(f"{type(exc).__name__}: {exc}"))
                job, counts = None, None
            if before == await self._server_started(cell) or restarts >= RESTART_RETRIES:
                break
            restarts += 1
            self.log(f"      PostgreSQL restarted during {cell.workload} {cell.system} {cell.variant}: measuring again")
        if job is None:
            return RunRecord(run=run, status="error", seconds=0.0, error=outcome.error)
        if restarts:
            outcome.info["server_restarts_before_this_run"] = restarts
        metrics = outcome.metrics
        if metrics.get("first_error"):
            metrics["first_error"] = redact(str(metrics["first_error"]))
        record = RunRecord(
            run=run,
            status=outcome.status,
            seconds=outcome.seconds,
            metrics=metrics,
            info=outcome.info,
            error=f"{outcome.phase}: {outcome.error}" if outcome.phase else outcome.error,
        )
        if counts is None or outcome.status != "ok":
            return record
        record.raw_counts["child"] = vars(counts)
        if cell.workload != "FLOOR":
            baseline = await self._baseline(cell.system, run)
            if baseline is None:
                return record
            record.raw_counts["baseline"] = vars(baseline)
            counts = counts.minus(baseline)
        units = _units(cell, job, metrics)
        record.wal_commits, record.xacts = counts.wal_commits, counts.xacts
        record.commits_per_activity = _ratio(counts.wal_commits, units)
        record.xacts_per_activity = _ratio(counts.xacts, units)
        return record

    async def run(self) -> dict[str, Any]:
        started = datetime.now(UTC)
        cells = _cells(self.opts)
        total = len(cells) * self.opts.runs
        try:
            await self._prepare()
            for run in range(1, self.opts.runs + 1):
                for index, cell in enumerate(cells, start=1):
                    record = await self._one(cell, run)
                    self.records.setdefault(cell, []).append(record)
                    self.log(progress((run - 1) * len(cells) + index, total, run, self.opts.runs, cell, record))
        finally:
            await self._close()
        return {
            "schema": 1,
            "meta": meta(self.opts, started, self.notes),
            "series": [series(cell, self.records.get(cell, [])) for cell in cells],
        }
