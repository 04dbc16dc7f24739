"""The SQLite single writer: group commit, failures isolated per unit, interactive transactions hold it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from edda.exceptions import LeaseLostError
from edda.storage.records import Fence, InstanceUpdate, NewHistoryEvent, NewInstance, StepCommit
from edda_storage_sql import SQLAlchemyStorage, _writer

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _new(iid: str) -> NewInstance:
    return NewInstance(iid, "wf", {"i": iid}, "w", T0, T0 + timedelta(seconds=60))


def _step(iid: str, n: int, *, epoch: int = 1) -> StepCommit:
    return StepCommit(Fence(iid, "w", epoch), T0, history=(NewHistoryEvent(f"a:{n}", "ActivityCompleted", {"n": n}),))


@pytest.fixture
def group_sizes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    sizes: list[int] = []
    original = _writer.SQLiteWriter._commit

    async def recording(self: Any, writes: list[Any]) -> None:
        sizes.append(len(writes))
        await original(self, writes)

    monkeypatch.setattr(_writer.SQLiteWriter, "_commit", recording)
    return sizes


async def test_concurrent_commits_share_transactions_and_a_stale_fence_fails_alone(
    sqlite_storage: SQLAlchemyStorage, group_sizes: list[int]
) -> None:
    storage = sqlite_storage
    await asyncio.gather(*(storage.create_instance(_new(f"i{n}")) for n in range(200)))
    group_sizes.clear()
    commits = [_step(f"i{n}", n, epoch=99 if n == 137 else 1) for n in range(200)]
    results = await asyncio.gather(*(storage.commit_step(c) for c in commits), return_exceptions=True)
    failures = [n for n, r in enumerate(results) if isinstance(r, BaseException)]
    assert failures == [137] and isinstance(results[137], LeaseLostError)
    assert max(group_sizes) > 1 and sum(group_sizes) == 200  # grouped, and every unit ran exactly once
    for n in range(200):
        history = await storage.get_history(f"i{n}")
        assert [h.event_data["n"] for h in history] == ([] if n == 137 else [n])


async def test_a_failing_unit_does_not_fail_its_group(sqlite_storage: SQLAlchemyStorage) -> None:
    storage = sqlite_storage
    await storage.create_instance(_new("ok"))
    bad = StepCommit(Fence("missing", "w", 1), T0, history=(NewHistoryEvent("a:1", "ActivityCompleted", {}),))
    results = await asyncio.gather(
        storage.commit_step(_step("ok", 1)),
        storage.commit_step(bad),
        storage.commit_step(_step("ok", 2)),
        return_exceptions=True,
    )
    assert isinstance(results[1], LeaseLostError) and not isinstance(results[0], BaseException)
    assert [h.activity_id for h in await storage.get_history("ok")] == ["a:1", "a:2"]


async def test_interactive_transaction_holds_the_writer_while_others_queue(sqlite_storage: SQLAlchemyStorage) -> None:
    storage = sqlite_storage
    for iid in ("tx", "other"):
        await storage.create_instance(_new(iid))
    tx = storage.begin()
    await storage.commit_step(_step("tx", 1), tx=tx)  # the transaction now holds the writer
    queued = asyncio.create_task(storage.commit_step(_step("other", 1)))
    await asyncio.sleep(0.05)
    assert not queued.done()  # waits for the writer instead of failing with "database is locked"
    assert await storage.get_history("tx") == []  # readers do not see uncommitted writes
    await tx.commit()
    await asyncio.wait_for(queued, 5)
    assert len(await storage.get_history("tx")) == 1 and len(await storage.get_history("other")) == 1


async def test_many_transactions_and_writes_interleave_without_lock_errors(sqlite_storage: SQLAlchemyStorage) -> None:
    storage = sqlite_storage
    await asyncio.gather(*(storage.create_instance(_new(f"i{n}")) for n in range(40)))

    async def with_tx(n: int) -> None:
        async with storage.transaction() as tx:
            await storage.commit_step(_step(f"i{n}", 0), tx=tx)
            _ = tx.session  # the session shares the transaction

    async def plain(n: int) -> None:
        for k in range(1, 4):
            await storage.commit_step(_step(f"i{n}", k))
            await storage.get_instance(f"i{n}")

    await asyncio.wait_for(asyncio.gather(*(with_tx(n) for n in range(20)), *(plain(n) for n in range(20, 40))), 60)
    for n in range(40):
        assert len(await storage.get_history(f"i{n}")) == (1 if n < 20 else 3)


async def test_unused_begin_costs_nothing(sqlite_storage: SQLAlchemyStorage) -> None:
    storage = sqlite_storage
    await storage.create_instance(_new("i"))
    for _ in range(3):
        tx = storage.begin()  # never used: the writer is never asked to step aside
        await tx.commit()
    await asyncio.wait_for(storage.commit_step(_step("i", 1)), 5)


async def test_close_finishes_queued_writes(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'close.db'}"
    storage = SQLAlchemyStorage(url)
    await storage.initialize()
    await storage.create_instance(_new("i"))
    pending = [asyncio.create_task(storage.commit_step(_step("i", n))) for n in range(20)]
    await asyncio.sleep(0)
    await storage.close()
    await asyncio.gather(*pending)
    reopened = SQLAlchemyStorage(url)
    await reopened.initialize()
    assert len(await reopened.get_history("i")) == 20
    await reopened.close()


async def test_wal_and_durable_sync(sqlite_storage: SQLAlchemyStorage) -> None:
    tx = sqlite_storage.begin()
    conn = await tx.connection()
    assert (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
    assert (await conn.exec_driver_sql("PRAGMA synchronous")).scalar() == 2  # FULL
    await tx.rollback()


async def test_finish_update_in_group(sqlite_storage: SQLAlchemyStorage) -> None:
    storage = sqlite_storage
    await storage.create_instance(_new("i"))
    done = InstanceUpdate(status="completed", output_data={"ok": True}, completed_at=T0, release_lease=True)
    await storage.commit_step(StepCommit(Fence("i", "w", 1), T0, update=done))
    got = await storage.get_instance("i")
    assert got is not None and got.status == "completed" and got.owner_id is None
