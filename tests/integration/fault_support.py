"""The harness of the fault-injection test: a loopback CloudEvents receiver, the run of the workload on one database
under a :class:`~edda.testing.faults.FaultInjectingStorage`, and what a run ended with.

One run: an ``EddaApp`` (its worker and its outbox relayer) on the faulty storage; waves of the workload
(``fault_workload.py``) started one after another while faults are injected; the ``fi.go`` events delivered to the
instances that wait for them; then the faults stop and the run waits until every instance has finished and every
outbox event was received. Everything the test process does through the app (starting, delivering events, reading
state) goes through the faulty storage too, and is retried when it fails, as a careful client would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import uvicorn
from sqlalchemy import text

from edda import EddaApp, OutboxOptions, StorageUnavailableError
from edda.storage import open_storage
from edda.storage.records import FINISHED_STATUSES, HistoryEventType, InstanceRecord
from edda.testing.faults import FaultInjectingStorage, FaultRates, FaultStats
from tests.integration.fault_workload import ATTEMPTS, EFFECTS_DDL, GO_EVENT, NOTES, Planned, build_wave
from tests.integration.soak_support import all_instances

T = TypeVar("T")


# -- the loopback receiver -------------------------------------------------------------------------------------------


class Receiver:
    """A CloudEvents HTTP receiver (a raw ASGI app) that keeps the structured-mode events it accepts, in arrival
    order. It answers 503 to the first request for every event whose ``k`` is 1 (a broker hiccup: the relayer retries
    it, and the instance's later events must wait behind it); 202 to everything else."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.refused = 0
        self._seen: set[str] = set()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        event = json.loads(body)
        first = event["id"] not in self._seen
        self._seen.add(event["id"])
        status = 503 if first and event["data"].get("k") == 1 else 202
        if status == 202:
            self.events.append(event)
        else:
            self.refused += 1
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    def first_arrivals(self) -> list[dict[str, Any]]:
        """The events in arrival order, each id only the first time it arrived."""
        seen: set[str] = set()
        firsts = []
        for event in self.events:
            if event["id"] not in seen:
                seen.add(event["id"])
                firsts.append(event)
        return firsts


class _QuietServer(uvicorn.Server):
    def capture_signals(self) -> contextlib.AbstractContextManager[None]:  # type: ignore[override]
        return contextlib.nullcontext()  # the test process's signals stay pytest's


@contextlib.asynccontextmanager
async def serve(app: Any) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn on a free port of 127.0.0.1 in this event loop; yields the events URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = _QuietServer(uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            assert not task.done(), "uvicorn stopped before it started"
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/events"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)
        sock.close()


# -- what a run ended with -------------------------------------------------------------------------------------------


@dataclass
class Ending:
    """How one instance ended: status, result (or the error type of a failure) and the kinds of its history entries
    (current iteration; retried attempts left out, as their number depends on when a fault struck)."""

    status: str
    result: Any
    history: tuple[str, ...]


@dataclass
class RunOutcome:
    """Everything a run ended with, and its figures."""

    endings: dict[str, Ending]
    effects: set[str]
    notes: dict[str, list[int]]  # per notifier: the ``k`` of its events in order of first arrival
    outbox_ids: set[str]  # the outbox events stored (all published)
    received_ids: set[str]
    deliveries: int  # HTTP requests the receiver accepted (duplicates included)
    refused: int  # requests it answered 503 (each then retried by the relayer)
    stats: FaultStats
    seconds: float
    fault_seconds: float
    events_sent: int = 0
    start_retries: int = 0
    client_retries: dict[str, int] = field(default_factory=dict)


async def persist(what: Callable[[], Awaitable[T]], counter: dict[str, int], name: str) -> T:
    """``what()``, again and again while the storage is unavailable (a client riding out database faults)."""
    while True:
        try:
            return await what()
        except StorageUnavailableError:
            counter[name] = counter.get(name, 0) + 1
            await asyncio.sleep(0.05)


def ending_of(record: InstanceRecord, history: list[Any]) -> Ending:
    result = record.output_data if record.status == "completed" else (record.error or {}).get("error_type")
    kinds = tuple(str(e.event_type) for e in history if e.event_type != HistoryEventType.ACTIVITY_ATTEMPT_FAILED)
    return Ending(str(record.status), result, kinds)


# -- one run ---------------------------------------------------------------------------------------------------------


@dataclass
class RunSettings:
    """The shape of one run."""

    waves: int
    wave_gap: float  # seconds between the starts of two waves
    fault_seconds: float  # faults are injected from the first start until this long after it (and all starts)
    rates: FaultRates
    per_call: Mapping[str, FaultRates] = field(default_factory=dict)
    seed: int = 0
    wait_seconds: float = 60.0  # how long every instance may take to finish once the faults stopped


class WorkloadRun:
    """The workload on one database (see the module docstring)."""

    def __init__(self, db_url: str, settings: RunSettings) -> None:
        self.db_url = db_url
        self.settings = settings
        self.plan = [p for wave in range(settings.waves) for p in build_wave(wave)]
        self.retries: dict[str, int] = {}
        self.events_sent: set[str] = set()
        self.driver: asyncio.Task[None] | None = None

    async def run(self) -> RunOutcome:
        inner = open_storage(self.db_url)
        await inner.initialize()
        async with inner.transaction() as tx:
            await tx.session.execute(text(EFFECTS_DDL))
        s = self.settings
        storage = FaultInjectingStorage(
            inner, rates=s.rates, per_call=s.per_call, seed=s.seed, timeout_delay=0.05, read_only_spell=3
        )
        storage.enabled = False  # the app starts on a healthy database; faults begin with the workload
        ATTEMPTS.clear()
        receiver = Receiver()
        try:
            async with serve(receiver) as url:
                app = EddaApp(
                    service_name="fault-injection",
                    storage=storage,
                    outbox_enabled=True,
                    broker_url=url,
                    outbox_options=OutboxOptions(
                        poll_interval=0.2, backoff_base=0.05, backoff_max=0.5, timeout=2.0, claim_seconds=3.0
                    ),
                    lease_timeout_seconds=2.0,
                    recovery_interval=0.2,
                )
                await app.initialize()
                try:
                    return await self._run_in(app, storage, inner, receiver)
                finally:
                    storage.enabled = False
                    await app.shutdown()
        finally:
            await inner.close()

    async def _run_in(self, app: EddaApp, storage: FaultInjectingStorage, inner: Any, receiver: Receiver) -> RunOutcome:
        began = time.monotonic()
        storage.enabled = True
        starter = asyncio.create_task(self._start_waves(app))
        self.driver = asyncio.create_task(self._deliver_events(app))
        try:
            await starter  # every instance is started (while faults are injected)
            await asyncio.sleep(max(0.0, began + self.settings.fault_seconds - time.monotonic()))
            storage.enabled = False
            faults_ended = time.monotonic()
            await self._wait_for_the_end(app, inner, receiver)
            seconds = time.monotonic() - began
        finally:
            for task in (starter, self.driver):
                task.cancel()
            await asyncio.gather(starter, self.driver, return_exceptions=True)
        outcome = await self._outcome(app, inner, receiver)
        outcome.stats, outcome.seconds, outcome.fault_seconds = storage.stats, seconds, faults_ended - began
        return outcome

    async def _start_waves(self, app: EddaApp) -> None:
        for wave in range(self.settings.waves):
            wave_began = time.monotonic()
            for planned in build_wave(wave):
                await persist(
                    lambda p=planned: app.start_workflow(p.workflow, p.kwargs, instance_id=p.instance_id),
                    self.retries,
                    "start_workflow",
                )
            await asyncio.sleep(max(0.0, wave_began + self.settings.wave_gap - time.monotonic()))

    async def _deliver_events(self, app: EddaApp) -> None:
        """Send each waiting ``fi_event`` instance its ``fi.go`` event (once it was accepted)."""
        values = {p.instance_id: p.event_value for p in self.plan if p.event_value is not None}
        while True:
            await asyncio.sleep(0.1)
            try:
                page = await app.find_instances(workflow_name="fi_event", status="waiting_for_event", limit=1000)
            except StorageUnavailableError:
                self.retries["find_instances"] = self.retries.get("find_instances", 0) + 1
                continue
            for record in page["instances"]:
                iid = record.instance_id
                if iid in self.events_sent:
                    continue
                event = {"type": GO_EVENT, "source": "fault-test", "id": f"go-{iid}", "eddainstanceid": iid}
                await persist(
                    lambda e=event | {"data": {"v": values[iid]}}: app.handle_cloudevent(e),
                    self.retries,
                    "handle_cloudevent",
                )
                self.events_sent.add(iid)

    async def _wait_for_the_end(self, app: EddaApp, inner: Any, receiver: Receiver) -> None:
        deadline = time.monotonic() + self.settings.wait_seconds
        while True:
            if self.driver is not None and self.driver.done():
                self.driver.result()  # raises what stopped the delivery of events
                raise AssertionError("the delivery of events stopped")
            instances = await all_instances(app)
            unfinished = [p.instance_id for p in self.plan if instances.get(p.instance_id) is None]
            unfinished += [i for i, r in instances.items() if r.status not in FINISHED_STATUSES]
            outbox = await inner.list_outbox(limit=100_000)
            unsent = [e.event_id for e in outbox if e.status != "published"]
            received = {e["id"] for e in receiver.events}
            if not unfinished and not unsent and {e.event_id for e in outbox} <= received:
                return  # finished instances write no more outbox events: the checks compare the counts
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"not finished {self.settings.wait_seconds:.0f} s after the faults stopped: {len(unfinished)} instances "
                    f"unfinished (e.g. {sorted(unfinished)[:5]}), {len(unsent)} outbox events unsent, "
                    f"{len({e.event_id for e in outbox} - received)} not received"
                )
            await asyncio.sleep(0.2)

    async def _outcome(self, app: EddaApp, inner: Any, receiver: Receiver) -> RunOutcome:
        instances = await all_instances(app)
        histories = await inner.get_histories(list(instances))
        endings = {iid: ending_of(r, histories.get(iid, [])) for iid, r in instances.items()}
        async with inner.transaction() as tx:
            rows = await tx.session.execute(text("SELECT effect_key FROM fi_effects"))
            effects = {r[0] for r in rows}
        notes: dict[str, list[int]] = {}
        for event in receiver.first_arrivals():
            notes.setdefault(event["data"]["iid"], []).append(int(event["data"]["k"]))
        outbox = await inner.list_outbox(limit=100_000)
        return RunOutcome(
            endings=endings,
            effects=effects,
            notes=notes,
            outbox_ids={e.event_id for e in outbox if e.status == "published"},
            received_ids={e["id"] for e in receiver.events},
            deliveries=len(receiver.events),
            refused=receiver.refused,
            stats=FaultStats(),
            seconds=0.0,
            fault_seconds=0.0,
            events_sent=len(self.events_sent),
            client_retries=dict(self.retries),
        )


# -- the checks ------------------------------------------------------------------------------------------------------


def check_against_plan(plan: list[Planned], outcome: RunOutcome, job_keys: set[str]) -> None:
    """The run ended as the plan says: every instance's status and result, every effect exactly once (the table's
    key makes twice impossible; here: none missing, none unexpected), every job once, every outbox event received
    in order per instance."""
    problems: list[str] = []
    for p in plan:
        ending = outcome.endings.get(p.instance_id)
        if ending is None:
            problems.append(f"{p.instance_id}: never created")
        elif ending.status != p.status or (p.workflow != "fi_consumer" and ending.result != p.result):
            problems.append(
                f"{p.instance_id}: ended {ending.status} with {ending.result!r}, not {p.status} {p.result!r}"
            )
    groups: dict[str, int] = {}
    for p in plan:
        if p.workflow == "fi_consumer" and p.instance_id in outcome.endings:
            result = outcome.endings[p.instance_id].result
            groups[p.group] = groups.get(p.group, 0) + (result if isinstance(result, int) else 0)
    wrong = {g: n for g, n in groups.items() if n != 4}
    if wrong:
        problems.append(f"consumers of these channels processed other than 4 jobs: {wrong}")
    expected = set().union(*(p.effects for p in plan)) | job_keys
    if outcome.effects != expected:
        problems.append(
            f"effects missing: {sorted(expected - outcome.effects)[:10]}; unexpected: "
            f"{sorted(outcome.effects - expected)[:10]}"
        )
    notifiers = [p.instance_id for p in plan if p.workflow == "fi_notifier"]
    bad_order = {i: outcome.notes.get(i) for i in notifiers if outcome.notes.get(i) != list(range(NOTES))}
    if bad_order:
        problems.append(f"outbox events not received once each in order: {dict(list(bad_order.items())[:5])}")
    if outcome.refused != len(notifiers):
        problems.append(
            f"the receiver refused {outcome.refused} requests, one per notifier expected ({len(notifiers)})"
        )
    if outcome.received_ids != outcome.outbox_ids or len(outcome.outbox_ids) != NOTES * len(notifiers):
        problems.append(
            f"{len(outcome.outbox_ids)} outbox events published, {len(outcome.received_ids)} distinct ids received "
            f"(expected {NOTES * len(notifiers)} of each, the same ids)"
        )
    assert not problems, "\n".join(problems[:40])


def check_same_endings(reference: RunOutcome, faulted: RunOutcome) -> None:
    """Every instance ended as in the fault-free run: status, result (consumers: which jobs each won may differ) and
    the kinds of its history entries."""
    differ = []
    for iid, ref in reference.endings.items():
        got = faulted.endings.get(iid)
        if got is None:
            differ.append(f"{iid}: missing")
            continue
        consumer = "-consumer-" in iid
        if (got.status, got.history) != (ref.status, ref.history) or (not consumer and got.result != ref.result):
            differ.append(f"{iid}: {got} != fault-free {ref}")
    extra = set(faulted.endings) - set(reference.endings)
    if extra:
        differ.append(f"instances the fault-free run does not have: {sorted(extra)[:5]}")
    if faulted.effects != reference.effects:
        differ.append(
            f"effects only under faults: {sorted(faulted.effects - reference.effects)[:5]}; only without: "
            f"{sorted(reference.effects - faulted.effects)[:5]}"
        )
    if faulted.notes != reference.notes:
        differ.append("outbox events received differ from the fault-free run's")
    assert not differ, "\n".join(differ[:40])
