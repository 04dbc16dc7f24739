"""The fault-injecting storage wrapper itself (edda.testing.faults): a faithful Storage when it injects nothing, and
each kind of fault doing what the real databases do, reproducibly.

pyright analyses this very module (the annotated assignments below are the static check that the wrapper is a
``Storage`` and keeps the optional capabilities).
"""

from __future__ import annotations

import inspect
import json
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from edda.exceptions import StorageConflictError, StorageUnavailableError
from edda.storage import HistoryBatchReader, Storage, WakeAnnouncer, WakeSource
from edda.storage.memory import InMemoryStorage
from edda.storage.records import Fence, HistoryEventType, NewHistoryEvent, NewInstance, StepCommit
from edda.testing.faults import (
    READ_CALLS,
    WRITE_CALLS,
    FaultInjectingStorage,
    FaultKind,
    FaultRates,
    is_run_write,
)
from edda.testing.storage import StorageConformance

_: Storage = FaultInjectingStorage(InMemoryStorage())
_batch: HistoryBatchReader = FaultInjectingStorage(InMemoryStorage())
_source: WakeSource = FaultInjectingStorage(InMemoryStorage())
_announcer: WakeAnnouncer = FaultInjectingStorage(InMemoryStorage())

NOW = datetime(2026, 1, 1, tzinfo=UTC)


class TestNoFaultsIsAFaithfulStorage(StorageConformance):
    """With no fault rates the wrapper passes the whole conformance kit, as the storage it wraps does."""

    @pytest.fixture
    async def storage(self) -> AsyncIterator[FaultInjectingStorage]:
        wrapped = FaultInjectingStorage(InMemoryStorage())
        await wrapped.initialize()
        yield wrapped
        assert wrapped.stats.total_calls > 0 and wrapped.stats.total_faults == 0
        await wrapped.close()


def new_instance(instance_id: str = "i-1") -> NewInstance:
    return NewInstance(instance_id, "wf", {}, "w", NOW, NOW + timedelta(minutes=5))


def step(instance_id: str = "i-1", tag: str = "a") -> StepCommit:
    event = NewHistoryEvent(tag, HistoryEventType.ACTIVITY_COMPLETED, {"result": tag})
    return StepCommit(fence=Fence(instance_id, "w", 1), now=NOW, history=(event,))


async def test_a_connection_lost_before_the_call_writes_nothing() -> None:
    inner = InMemoryStorage()
    storage = FaultInjectingStorage(inner, rates=FaultRates(lost_before=1.0))
    with pytest.raises(StorageUnavailableError, match="lost before the call reached it, in create_instance"):
        await storage.create_instance(new_instance())
    assert await inner.get_instance("i-1") is None
    assert storage.stats.faults[("create_instance", FaultKind.LOST_BEFORE)] == 1


async def test_a_connection_lost_after_the_commit_wrote_although_the_caller_sees_an_error() -> None:
    inner = InMemoryStorage()
    storage = FaultInjectingStorage(inner, per_call={"create_instance": FaultRates(lost_after=1.0)})
    with pytest.raises(StorageUnavailableError, match="lost after it committed the call, in create_instance"):
        await storage.create_instance(new_instance())
    record = await inner.get_instance("i-1")
    assert record is not None and record.owner_id == "w"
    await storage.commit_step(step())  # the default rates: no fault
    assert [e.activity_id for e in await inner.get_history("i-1")] == ["a"]


@pytest.mark.parametrize(
    ("rates", "error", "message"),
    [
        (FaultRates(conflict=1.0), StorageConflictError, "deadlock or serialization conflict"),
        (FaultRates(read_only=1.0), StorageUnavailableError, "read-only"),
    ],
)
async def test_conflicts_and_read_only_refuse_writes_and_let_reads_through(
    rates: FaultRates, error: type[Exception], message: str
) -> None:
    inner = InMemoryStorage()
    await inner.create_instance(new_instance())
    storage = FaultInjectingStorage(inner, rates=rates)
    with pytest.raises(error, match=message):
        await storage.commit_step(step())
    assert await inner.get_history("i-1") == []
    assert (await storage.get_instance("i-1")) is not None  # a read: never conflicted nor refused
    assert storage.stats.by_call() == {"commit_step": 1}


async def test_a_read_only_spell_refuses_that_many_writes_in_a_row() -> None:
    storage = FaultInjectingStorage(
        InMemoryStorage(), per_call={"reopen_instance": FaultRates(read_only=1.0)}, read_only_spell=3
    )
    with pytest.raises(StorageUnavailableError, match="read-only"):
        await storage.reopen_instance("x", now=NOW)
    outcomes = []
    for _ in range(3):
        assert await storage.get_instance("x") is None  # reads go on during the spell and do not shorten it
        try:
            outcomes.append(await storage.request_cancel("x", now=NOW))
        except StorageUnavailableError:
            outcomes.append("refused")
    assert outcomes == ["refused", "refused", None]
    assert storage.stats.by_kind()[FaultKind.READ_ONLY] == 3


async def test_a_timeout_waits_then_fails_without_writing() -> None:
    inner = InMemoryStorage()
    storage = FaultInjectingStorage(inner, rates=FaultRates(timeout=1.0), timeout_delay=0.01)
    with pytest.raises(StorageUnavailableError, match="TimeoutError"):
        await storage.create_instance(new_instance())
    assert await inner.get_instance("i-1") is None


async def test_a_fault_inside_a_transaction_loses_the_whole_transaction() -> None:
    inner = InMemoryStorage()
    await inner.create_instance(new_instance())
    storage = FaultInjectingStorage(inner, per_call={"commit_step": FaultRates(lost_after=1.0)})
    tx = storage.begin()
    with pytest.raises(StorageUnavailableError):
        await storage.commit_step(step(), tx=tx)
    with pytest.raises(StorageUnavailableError, match="transaction_commit"):
        await tx.commit()
    assert await inner.get_history("i-1") == []


@pytest.mark.parametrize(("kind", "written"), [(FaultKind.LOST_AFTER, ["a"]), (FaultKind.LOST_BEFORE, [])])
async def test_a_failed_transaction_commit_happened_or_not_by_kind(kind: FaultKind, written: list[str]) -> None:
    inner = InMemoryStorage()
    await inner.create_instance(new_instance())
    storage = FaultInjectingStorage(inner, per_call={"transaction_commit": FaultRates(**{kind.value: 1.0})})
    with pytest.raises(StorageUnavailableError):
        async with storage.transaction() as tx:
            await storage.commit_step(step(), tx=tx)
    assert [e.activity_id for e in await inner.get_history("i-1")] == written


async def draws(seed: int, calls: int = 400) -> list[int]:
    """The indexes of the calls that failed among ``calls`` reads."""
    storage = FaultInjectingStorage(InMemoryStorage(), rates=FaultRates(lost_before=0.05, timeout=0.05), seed=seed)
    failed = []
    for n in range(calls):
        try:
            await storage.get_instance("x")
        except StorageUnavailableError:
            failed.append(n)
    return failed


async def test_the_same_seed_injects_the_same_faults_and_another_seed_others() -> None:
    first = await draws(seed=7)
    assert first and first == await draws(seed=7)
    assert first != await draws(seed=8)


async def test_rates_are_honoured_over_many_calls() -> None:
    storage = FaultInjectingStorage(InMemoryStorage(), rates=FaultRates(lost_before=0.1, lost_after=0.05), seed=3)
    for _ in range(4000):
        try:
            await storage.get_instance("x")
        except StorageUnavailableError:
            pass
    by_kind = storage.stats.by_kind()
    assert 320 <= by_kind[FaultKind.LOST_BEFORE] <= 480, by_kind
    assert 140 <= by_kind[FaultKind.LOST_AFTER] <= 260, by_kind
    assert by_kind[FaultKind.CONFLICT] == by_kind[FaultKind.READ_ONLY] == 0  # reads never get these
    assert storage.stats.calls["get_instance"] == 4000


async def test_max_faults_stops_injecting_after_that_many() -> None:
    storage = FaultInjectingStorage(InMemoryStorage(), rates=FaultRates(lost_before=1.0), max_faults=2)
    outcomes = []
    for _ in range(4):
        try:
            outcomes.append(await storage.get_instance("x"))
        except StorageUnavailableError:
            outcomes.append("lost")
    assert outcomes == ["lost", "lost", None, None]


async def test_disabled_injects_nothing_and_still_counts() -> None:
    storage = FaultInjectingStorage(InMemoryStorage(), rates=FaultRates(lost_before=1.0))
    storage.enabled = False
    created, _ = await storage.create_instance(new_instance())
    assert created.instance_id == "i-1"
    assert storage.stats.total_calls == 1 and storage.stats.total_faults == 0


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: FaultRates(lost_before=1.5), r"FaultRates.lost_before must be a probability between 0 and 1, got 1.5"),
        (lambda: FaultRates(timeout=True), r"FaultRates.timeout must be a probability"),
        (lambda: FaultRates.each(0.3), r"add up to 1.5; their sum must be at most 1"),
        (
            lambda: FaultInjectingStorage(InMemoryStorage(), per_call={"commit": FaultRates()}),
            r"unknown storage calls \['commit'\]; use names from WRITE_CALLS or READ_CALLS",
        ),
        (
            lambda: FaultInjectingStorage(InMemoryStorage(), read_only_spell=0),
            r"read_only_spell >= 1 and max_faults >= 0",
        ),
    ],
)
def test_bad_settings_are_refused_with_what_to_do(make: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


def test_every_spi_method_is_a_known_call() -> None:
    methods = {
        name
        for role in inspect.getmro(Storage)
        for name, value in vars(role).items()
        if callable(value) and not name.startswith("_") and name not in ("initialize", "close", "begin", "transaction")
    }
    assert methods <= WRITE_CALLS | READ_CALLS, methods - (WRITE_CALLS | READ_CALLS)
    assert not WRITE_CALLS & READ_CALLS


def test_crash_points_count_writes_of_runs_not_polls() -> None:
    assert is_run_write("commit_step", None) is True
    assert is_run_write("claim_runnable", []) is False  # an idle poll
    assert is_run_write("claim_runnable", ["claimed"]) is True
    assert is_run_write("claim_instance", None) is False
    assert is_run_write("renew_leases", {"i-1"}) is False  # a heartbeat
    assert is_run_write("get_instance", None) is None


def test_pyright_accepts_the_wrapper_as_a_storage(tmp_path: Path) -> None:
    pyright = shutil.which("pyright", path=str(Path(sys.executable).parent)) or shutil.which("pyright")
    if pyright is None:
        pytest.skip("pyright is not installed in this environment (pip install pyright): the static check needs it")
    config = tmp_path / "pyrightconfig.json"
    config.write_text(json.dumps({"typeCheckingMode": "standard", "pythonVersion": "3.11"}))
    proc = subprocess.run(
        [pyright, "--outputjson", "--project", str(config), "--pythonpath", sys.executable, __file__],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYRIGHT_PYTHON_IGNORE_WARNINGS": "1"},
        check=False,
    )
    report = json.loads(proc.stdout[proc.stdout.index("{") :])
    errors = [d["message"] for d in report["generalDiagnostics"] if d["severity"] == "error"]
    assert report["summary"]["filesAnalyzed"] > 0
    assert not errors, errors
