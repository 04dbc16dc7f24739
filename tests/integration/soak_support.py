"""Helpers for the multi-process tests: worker processes, a client-only EddaApp, the event/message driver, checks.

The test process is a client, not a worker: its EddaApp (used for ``handle_cloudevent``, ``publish`` and
``find_instances``) runs on :class:`ClientStorage`, which never claims an instance, so every workflow runs in one of
the worker processes (``soak_worker.py``).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import text

from edda import EddaApp, InstanceRecord, InstanceStatus, StorageUnavailableError, publish
from edda.storage import open_storage
from tests.integration.soak_plan import (
    BROADCAST_EVENT,
    DRIVER_MODULES,
    EFFECTS_DDL,
    EFFECTS_TABLE,
    GO_EVENT,
    JOBS_CHANNEL,
    Planned,
    all_job_ids,
    is_driver_error,
)

WORKER_SCRIPT = Path(__file__).with_name("soak_worker.py")
ROOT = Path(__file__).resolve().parents[2]
LOG_KINDS = (
    "was taken over by another worker",
    "Lost the lease",
    "Deferred commit",
    "Storage failed while running instance",
    "Unexpected error while running instance",
    "Recovery pass could not reach the database",
    "Lease heartbeat failed",
    "Checking for dead workers failed",
    "Liveness connection",
    "UNCLASSIFIED",
    "start of",
    "initialize failed",
    "Exception closing connection",
)
FINISHED = frozenset({InstanceStatus.COMPLETED, InstanceStatus.FAILED, InstanceStatus.CANCELLED})


# -- worker processes ------------------------------------------------------------------------------------------------


class WorkerProcess:
    """``soak_worker.py`` in a subprocess; its stdout and stderr go to files under ``directory``."""

    def __init__(
        self, index: int, db_url: str, directory: Path, *, count: int, consumers: int, workers: int, spread: float
    ) -> None:
        self.index = index
        self.out_path = directory / f"worker-{index}.out"
        self.err_path = directory / f"worker-{index}.err"
        env = {k: v for k, v in os.environ.items() if not k.startswith("EDDA_FAULT")}
        env["PYTHONPATH"] = str(ROOT)
        env["EDDA_SOAK_DB_URL"] = db_url
        args = [str(index), str(workers), str(count), str(consumers), str(spread)]
        with open(self.out_path, "w") as out, open(self.err_path, "w") as err:
            self.proc = subprocess.Popen([sys.executable, str(WORKER_SCRIPT), *args], stdout=out, stderr=err, env=env)
        self.worker_id = ""
        self.killed_at: float | None = None

    def lines(self) -> list[str]:
        return self.out_path.read_text().splitlines()

    def stderr_tail(self, chars: int = 3000) -> str:
        return self.err_path.read_text()[-chars:]

    def warnings(self) -> Counter[str]:
        """Counts of the worker's log records by kind (known messages by name, others by level and logger)."""
        kinds: Counter[str] = Counter()
        for line in self.err_path.read_text().splitlines():
            if line.startswith("Traceback"):
                kinds["traceback"] += 1
            fields = line.split(" ", 4)
            if len(fields) < 5 or fields[2] not in ("WARNING", "ERROR", "CRITICAL"):
                continue  # continuation lines (SQL, tracebacks)
            for needle in LOG_KINDS:
                if needle in fields[4]:
                    kinds[needle] += 1
                    break
            else:
                kinds[f"{fields[2]} {fields[3]}"] += 1
        return kinds

    async def wait_for_line(self, prefix: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines():
                if line.startswith(prefix):
                    return line
            if self.proc.poll() is not None:
                break
            await asyncio.sleep(0.05)
        raise AssertionError(
            f"worker {self.index} did not print {prefix!r} (exit code {self.proc.poll()}):\n{self.stderr_tail()}"
        )

    async def started(self, timeout: float = 60) -> str:
        self.worker_id = (await self.wait_for_line("WORKER ", timeout)).split(" ", 1)[1]
        return self.worker_id

    def kill(self) -> None:
        self.killed_at = time.monotonic()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self, timeout: float = 20) -> int:
        """SIGTERM (graceful shutdown), then SIGKILL if it does not exit; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        return self.proc.returncode


def start_workers(
    db_url: str, directory: Path, *, workers: int, count: int, consumers: int, spread: float
) -> list[WorkerProcess]:
    started: list[WorkerProcess] = []
    try:
        for index in range(workers):
            started.append(
                WorkerProcess(
                    index, db_url, directory, count=count, consumers=consumers, workers=workers, spread=spread
                )
            )
    except BaseException:
        kill_all(started)
        raise
    return started


def kill_all(workers: list[WorkerProcess]) -> None:
    """Last-resort cleanup: SIGKILL every worker still alive and reap it."""
    for worker in workers:
        if worker.proc.poll() is None:
            worker.proc.kill()
        try:
            worker.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


# -- the client app --------------------------------------------------------------------------------------------------


class ClientStorage:
    """Forwards everything to a storage but never claims an instance: its app delivers events and reads state,
    and leaves running workflows to the worker processes."""

    def __init__(self, storage: Any) -> None:
        self._storage = storage

    def __getattr__(self, name: str) -> Any:
        return getattr(self._storage, name)

    async def claim_runnable(self, **_: Any) -> list[InstanceRecord]:
        return []

    async def claim_runnable_of(self, *_: Any, **__: Any) -> list[InstanceRecord]:
        return []

    async def claim_instance(self, *_: Any, **__: Any) -> InstanceRecord | None:
        return None

    async def next_wake_at(self) -> None:
        return None  # nothing to wake up for: this app claims nothing

    async def next_wake_at_of(self, *_: Any) -> None:
        return None


async def prepare_database(db_url: str) -> None:
    """Create Edda's schema and the effects table before the workers start (so they do not race on DDL)."""
    storage = open_storage(db_url)
    try:
        await storage.initialize()
        async with storage.transaction() as tx:
            await tx.session.execute(text(EFFECTS_DDL))
    finally:
        await storage.close()


@asynccontextmanager
async def client_app(db_url: str) -> AsyncIterator[EddaApp]:
    storage = open_storage(db_url)
    app = EddaApp(service_name="soak-client", storage=ClientStorage(storage), recovery_interval=5)
    try:
        await app.initialize()
        yield app
    finally:
        await app.shutdown()
        await storage.close()


async def all_instances(app: EddaApp) -> dict[str, InstanceRecord]:
    found: dict[str, InstanceRecord] = {}
    token: str | None = None
    while True:
        page = await app.find_instances(limit=1000, page_token=token)
        for record in page["instances"]:
            found[record.instance_id] = record
        token = page["next_page_token"]
        if token is None:
            return found


async def read_effects(app: EddaApp) -> Counter[tuple[str, str]]:
    async with app.storage.transaction() as tx:
        rows = await tx.session.execute(text(f"SELECT instance_id, effect FROM {EFFECTS_TABLE}"))
        return Counter((r[0], r[1]) for r in rows)


async def count_job_effects(app: EddaApp) -> int:
    async with app.storage.transaction() as tx:
        rows = await tx.session.execute(text(f"SELECT COUNT(*) FROM {EFFECTS_TABLE} WHERE effect LIKE 'job %'"))
        return int(rows.scalar_one())


async def retrying(what: Any, *, attempts: int = 100, delay: float = 0.2) -> Any:
    """Await ``what()`` again while the database is unavailable (the chaos test kills our connections too)."""
    for attempt in range(attempts):
        try:
            return await what()
        except StorageUnavailableError:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")


# -- the driver: events, broadcasts and stop messages ----------------------------------------------------------------


@dataclass
class Driver:
    """Delivers what waiting workflows need, from the test process, until every instance has finished.

    - an ``soak.go`` event addressed (``eddainstanceid``) to each ``soak_event`` instance once it waits;
    - a broadcast ``soak.broadcast`` event every 0.3 s while some ``soak_broadcast`` instance waits;
    - once every job has been processed, one ``{"stop": true}`` message per consumer on the competing channel.
    """

    app: EddaApp
    plan: list[Planned]
    period: float = 0.1
    snapshot: dict[str, InstanceRecord] = field(default_factory=dict)
    go_sent: set[str] = field(default_factory=set)
    broadcasts: int = 0
    stops_sent: bool = False
    unavailable: int = 0
    unclassified: Counter[str] = field(default_factory=Counter)
    finished_at: float | None = None  # when the driver first saw every instance finished (monotonic)
    ticks: int = 0
    failure: BaseException | None = None

    def __post_init__(self) -> None:
        self.jobs = all_job_ids(self.plan)
        self.consumers = [p.instance_id for p in self.plan if p.workflow == "soak_consumer"]
        self.producers = [p.instance_id for p in self.plan if p.workflow == "soak_producer"]
        self._last_broadcast = 0.0
        self._jobs_seen = -1
        self._jobs_seen_at = 0.0

    async def run(self) -> None:
        try:
            while True:
                try:
                    await self.tick()
                except StorageUnavailableError:
                    self.unavailable += 1
                except Exception as exc:
                    if not is_driver_error(exc):
                        raise
                    # a lost connection not classified as StorageUnavailableError (see test_multiprocess_findings)
                    self.unclassified[f"{type(exc).__name__}: {str(exc)[:80]}"] += 1
                if self.finished(len(self.plan)):
                    self.finished_at = time.monotonic()
                    return
                await asyncio.sleep(self.period)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self.failure = exc
            raise

    def finished(self, total: int) -> bool:
        return len(self.snapshot) >= total and all(r.status in FINISHED for r in self.snapshot.values())

    async def tick(self) -> None:
        self.ticks += 1
        self.snapshot = await all_instances(self.app)
        waiting_broadcast = False
        for record in self.snapshot.values():
            if record.status != InstanceStatus.WAITING_FOR_EVENT:
                continue
            if record.workflow_name == "soak_event" and record.instance_id not in self.go_sent:
                iid = record.instance_id
                await self.app.handle_cloudevent(
                    {
                        "type": GO_EVENT,
                        "source": "soak-test",
                        "id": f"go-{iid}",
                        "eddainstanceid": iid,
                        "data": {"for": iid},
                    }
                )
                self.go_sent.add(iid)
            elif record.workflow_name == "soak_broadcast":
                waiting_broadcast = True
        now = time.monotonic()
        if waiting_broadcast and now - self._last_broadcast >= 0.3:
            self.broadcasts += 1
            await self.app.handle_cloudevent(
                {
                    "type": BROADCAST_EVENT,
                    "source": "soak-test",
                    "id": f"b-{self.broadcasts}",
                    "data": {"round": self.broadcasts},
                }
            )
            self._last_broadcast = now
        if not self.stops_sent and all(
            self.snapshot.get(p) is not None and self.snapshot[p].status in FINISHED for p in self.producers
        ):
            processed = await count_job_effects(self.app)
            if processed != self._jobs_seen:
                self._jobs_seen, self._jobs_seen_at = processed, now
            # Normally: once every job is processed. If some producer or consumer failed (see check_outcome), not
            # every job will be: stop once the count has not moved for 5 s, so that the test can report it.
            failed = any(self.snapshot[i].status != InstanceStatus.COMPLETED for i in self.producers) or any(
                r.status in FINISHED and r.status != InstanceStatus.COMPLETED
                for i in self.consumers
                if (r := self.snapshot.get(i)) is not None
            )
            if processed >= len(self.jobs) or (failed and now - self._jobs_seen_at > 5):
                for _ in self.consumers:
                    await publish(self.app, JOBS_CHANNEL, {"stop": True})
                self.stops_sent = True


def progress(snapshot: dict[str, InstanceRecord]) -> Counter[str]:
    return Counter(r.status for r in snapshot.values())


async def wait_until_finished(driver: Driver, task: asyncio.Task[None], timeout: float) -> float:
    """Wait for the driver to see every instance finished; returns when that was first seen (monotonic)."""
    try:
        await asyncio.wait_for(asyncio.shield(task), timeout=timeout)
    except TimeoutError:
        raise AssertionError(f"not finished after {timeout} s: {dict(progress(driver.snapshot))}") from None
    assert driver.finished_at is not None
    return driver.finished_at


# -- the final checks ------------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    instances: int
    effects: int
    jobs: int
    # Instances that failed because a database driver exception escaped the storage (a lost connection that was not
    # classified as StorageUnavailableError): the known bug of test_multiprocess_findings.py, reported, not hidden.
    driver_failures: dict[str, str] = field(default_factory=dict)
    jobs_lost_to_driver_failures: int = 0


def driver_failure(record: InstanceRecord) -> str | None:
    """``module.Class: message`` if the instance failed with a database driver exception, else None."""
    error = record.error or {}
    module = str(error.get("error_module", ""))
    if record.status == InstanceStatus.FAILED and module.split(".")[0] in DRIVER_MODULES:
        return f"{module}.{error.get('error_type')}: {str(error.get('message'))[:100]}"
    return None


def check_outcome(
    plan: list[Planned], instances: dict[str, InstanceRecord], effects: Counter[tuple[str, str]]
) -> Outcome:
    """Every instance completed with its expected result; every effect exactly once; every job exactly once.

    Instances failed by a database driver exception are collected in ``Outcome.driver_failures`` instead (the
    caller reports them as the known bug); their effects must still be a subset of the expected ones, each once.
    """
    problems: list[str] = []
    failures: dict[str, str] = {}
    missing = [p.instance_id for p in plan if p.instance_id not in instances]
    if missing:
        problems.append(f"{len(missing)} instances were never created: {missing[:5]}")
    for p in plan:
        record = instances.get(p.instance_id)
        if record is None:
            continue
        if record.status != InstanceStatus.COMPLETED:
            known = driver_failure(record)
            if known is not None:
                failures[p.instance_id] = known
            else:
                problems.append(f"{p.instance_id}: status {record.status} error {record.error}")
        elif p.expected_result is not None and record.output_data != p.expected_result:
            problems.append(f"{p.instance_id}: result {record.output_data!r} != {p.expected_result!r}")
    duplicated = {key: n for key, n in effects.items() if n != 1}
    if duplicated:
        problems.append(f"{len(duplicated)} effects happened more than once: {sorted(duplicated.items())[:10]}")
    by_instance: dict[str, set[str]] = {}
    for iid, effect in effects:
        by_instance.setdefault(iid, set()).add(effect)
    for p in plan:
        if p.expected_effects is None:
            continue
        got = by_instance.get(p.instance_id, set())
        if got != p.expected_effects and not (p.instance_id in failures and got <= p.expected_effects):
            problems.append(f"{p.instance_id}: effects {sorted(got)} != {sorted(p.expected_effects)}")
    jobs = all_job_ids(plan)
    consumers = [p.instance_id for p in plan if p.workflow == "soak_consumer"]
    processed: Counter[str] = Counter()
    for iid in consumers:
        for effect in by_instance.get(iid, set()):
            if effect.startswith("job "):
                processed[effect[4:]] += effects[(iid, effect)]
            elif effect != "stop":
                problems.append(f"{iid}: unexpected effect {effect!r}")
        if (iid, "stop") not in effects and iid not in failures:
            problems.append(f"{iid}: never stopped")
    twice = {job: n for job, n in processed.items() if n > 1}
    if twice:
        problems.append(f"{len(twice)} jobs were processed more than once: {sorted(twice.items())[:10]}")
    lost = jobs - set(processed)
    if lost and not failures:
        problems.append(f"{len(lost)} jobs were never processed: {sorted(lost)[:10]}")
    unknown = set(processed) - jobs
    if unknown:
        problems.append(f"{len(unknown)} unknown jobs were processed: {sorted(unknown)[:10]}")
    results = [instances[c].output_data for c in consumers if c in instances]
    if not failures and sum(r for r in results if isinstance(r, int)) != len(jobs):
        problems.append(f"consumers report {sum(results)} jobs processed, {len(jobs)} were published")
    assert not problems, "\n".join(problems[:40])
    return Outcome(len(plan), sum(effects.values()), len(jobs), failures, len(lost))
