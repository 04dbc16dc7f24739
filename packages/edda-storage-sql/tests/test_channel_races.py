"""Races on the real servers (and what a deadlock becomes): receives share the channel lock, so these check that no wake-up is lost and
no competing message is taken twice when receives, addressed publishes and competing claims run truly at once
(several storages, i.e. connection pools, as several worker processes would have)."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime
from typing import Any

import pytest

from edda.storage.records import Fence, InstanceUpdate, NewInstance, NewMessage, StepCommit, Subscribe
from edda_storage_sql import SQLAlchemyStorage

N = 120


def _now() -> datetime:
    return datetime.now(UTC)


async def _storages(url: str, count: int) -> list[SQLAlchemyStorage]:
    storages = [SQLAlchemyStorage(url) for _ in range(count)]
    for storage in storages:
        await storage.initialize()
    return storages


async def _create(storage: SQLAlchemyStorage, iid: str) -> None:
    now = _now()
    await storage.create_instance(
        NewInstance(instance_id=iid, workflow_name="wf", input_data={}, owner_id="w", now=now, lease_expires_at=now)
    )


@pytest.fixture(params=["postgresql", "mysql"])
def server_url(request: pytest.FixtureRequest) -> str:
    fixture = {"postgresql": "postgres_storage", "mysql": "mysql_storage"}[request.param]
    storage: SQLAlchemyStorage = request.getfixturevalue(fixture)  # empties the tables; skips without a server
    return storage._target.url.render_as_string(hide_password=False)


async def test_addressed_messages_racing_receives_lose_no_wake_up(server_url: str) -> None:
    storages = await _storages(server_url, 3)
    try:
        ids = [f"r{i}" for i in range(N)]
        for iid in ids:
            await _create(storages[0], iid)
        received: dict[str, str] = {}
        woken: set[str] = set()

        async def receive(iid: str) -> None:  # the workflow's receive: take the message, or park
            await asyncio.sleep(random.uniform(0, 0.05))
            got = await storages[1].receive_or_wait(
                StepCommit(fence=Fence(iid, "w", 1), now=_now()),
                channel="go",
                step_id="receive:1",
                wait=InstanceUpdate(status="waiting_for_message", release_lease=True),
            )
            if got is not None:
                received[iid] = got.message_id

        async def send(iid: str) -> None:  # another process's addressed event
            await asyncio.sleep(random.uniform(0, 0.05))
            _, w = await storages[2].publish(NewMessage(f"m-{iid}", "go", {}, target_instance_id=iid), now=_now())
            woken.update(w)

        await asyncio.gather(*(f(iid) for iid in ids for f in (receive, send)))
        # Each instance either took its message in its receive, or was parked and then woken by the publish.
        lost = [iid for iid in ids if iid not in received and iid not in woken]
        assert not lost, f"{len(lost)} receivers parked while their message was published and never woken: {lost[:5]}"
        assert all(received[iid] == f"m-{iid}" for iid in received)
        assert not (set(received) & woken), "a receiver that took its message was woken as well"
    finally:
        for storage in storages:
            await storage.close()


async def test_competing_receivers_at_once_take_each_message_once(server_url: str) -> None:
    storages = await _storages(server_url, 3)
    try:
        workers = [f"c{i}" for i in range(12)]
        for iid in workers:
            await _create(storages[0], iid)
            await storages[0].commit_step(
                StepCommit(fence=Fence(iid, "w", 1), now=_now(), subscriptions=(Subscribe("jobs", "competing"),))
            )
        messages = 60
        for k in range(messages):
            await storages[0].publish(NewMessage(f"job-{k}", "jobs", {"k": k}), now=_now())
        taken: list[tuple[str, str]] = []

        async def consume(iid: str, storage: SQLAlchemyStorage) -> None:
            for n in range(messages):
                got = await storage.receive_or_wait(
                    StepCommit(fence=Fence(iid, "w", 1), now=_now()), channel="jobs", step_id=f"r:{n}", wait=None
                )
                if got is None:
                    return
                taken.append((iid, got.message_id))

        await asyncio.gather(*(consume(iid, storages[i % 3]) for i, iid in enumerate(workers)))
        jobs = sorted(m for _, m in taken)
        assert jobs == sorted(f"job-{k}" for k in range(messages)), "a job was taken twice or not at all"
        assert len({iid for iid, _ in taken}) > 1  # really concurrent: several consumers got work
    finally:
        for storage in storages:
            await storage.close()


async def test_a_deadlock_inside_a_transaction_is_a_storage_conflict(server_url: str) -> None:
    # Two activity transactions lock two instance rows in opposite orders: the server kills one of them. The engine
    # must see a StorageConflictError (a kind of StorageUnavailableError: retry from history), not a raw driver
    # error it would take for the workflow's own failure.
    from sqlalchemy import text

    from edda.exceptions import StorageConflictError, StorageUnavailableError

    storage = SQLAlchemyStorage(server_url)
    await storage.initialize()
    try:
        for iid in ("a", "b"):
            await _create(storage, iid)
        touch = text("UPDATE edda_instances SET updated_at = updated_at WHERE instance_id = :i")
        first, second = storage.begin(), storage.begin()
        await first.session.execute(touch, {"i": "b"})
        await second.session.execute(touch, {"i": "a"})

        async def commit(tx: Any, iid: str) -> BaseException | None:
            try:
                await storage.commit_step(StepCommit(fence=Fence(iid, "w", 1), now=_now()), tx=tx)
                await tx.commit()
            except BaseException as exc:
                await tx.rollback()
                return exc
            return None

        outcomes = await asyncio.gather(commit(first, "a"), commit(second, "b"))
        failures = [o for o in outcomes if o is not None]
        assert len(failures) == 1, outcomes  # one was chosen as the deadlock victim, the other committed
        assert isinstance(failures[0], StorageConflictError), repr(failures[0])
        assert isinstance(failures[0], StorageUnavailableError)
        assert "deadlock" in str(failures[0]) and "@" not in str(failures[0])  # says what happened, no URL
    finally:
        await storage.close()


async def test_conflicts_every_time_end_as_a_storage_conflict_not_a_driver_error(server_url: str) -> None:
    # The server itself reports a deadlock (its real error code, raised by the server on every try): outside a
    # transaction the pool retries the operation, and when every retry conflicts too the caller gets a
    # StorageConflictError (retried from history), not the driver's exception.
    from edda.exceptions import StorageConflictError
    from edda_storage_sql._sql import Execute, Op, Sql

    storage = SQLAlchemyStorage(server_url)
    await storage.initialize()
    deadlock = (
        "DO $$ BEGIN RAISE EXCEPTION 'simulated' USING ERRCODE = '40P01'; END $$"
        if storage.dialect == "postgresql"
        else "BEGIN NOT ATOMIC SIGNAL SQLSTATE '40001' SET MYSQL_ERRNO = 1213, MESSAGE_TEXT = 'simulated'; END"
    )
    tries = 0

    def make_op() -> Op[int]:
        nonlocal tries
        tries += 1

        def steps() -> Any:
            return (yield Execute(Sql(deadlock), {}))

        return Op(steps())

    try:
        with pytest.raises(StorageConflictError, match="rolled the operation back 4 times") as raised:
            await storage._executor._pool.run(make_op, read=False)  # type: ignore[attr-defined]
        assert tries == 4 and "@" not in str(raised.value)
    finally:
        await storage.close()
