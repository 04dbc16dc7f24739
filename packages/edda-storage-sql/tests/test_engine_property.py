"""``storage.engine`` for the user's own tables: on SQLite it takes its turn from the single writer instead of waiting
forever for the connection the writer holds; misuse that would wait for itself fails at once; servers are unchanged."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from edda import EddaApp, WorkflowContext, activity, workflow
from edda.storage.records import NewInstance
from edda_storage_sql import SQLAlchemyStorage

metadata = MetaData()
notes = Table("user_notes", metadata, Column("id", Integer, primary_key=True), Column("body", String(100)))


@activity
async def bump(ctx: WorkflowContext, n: int) -> int:
    return n + 1


@workflow
async def two_steps(ctx: WorkflowContext, n: int) -> int:
    return await bump(ctx, await bump(ctx, n))


def rows_in_file(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [body for (body,) in conn.execute("SELECT body FROM user_notes ORDER BY id")]
    finally:
        conn.close()


async def test_engine_begin_creates_tables_on_a_sqlite_file(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    async with EddaApp(service_name="engine", db_url=f"sqlite:///{db}") as app:
        async with asyncio.timeout(5):  # it used to hang here forever
            async with app.storage.engine.begin() as conn:
                await conn.run_sync(metadata.create_all)
                await conn.execute(notes.insert().values(body="first"))
        iid = await two_steps.start(n=1)  # Edda's writer has its connection back
        assert await app.wait_for_result(iid, timeout=5) == 3
    assert rows_in_file(db) == ["first"]


async def test_user_writes_interleave_with_running_workflows(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    async with EddaApp(service_name="engine", db_url=f"sqlite:///{db}") as app:
        engine = app.storage.engine
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)

        async def user_writes(k: int) -> None:
            for i in range(10):
                async with engine.begin() as conn:  # Core, committed by the block
                    await conn.execute(notes.insert().values(body=f"core-{k}-{i}"))
                async with AsyncSession(engine) as session:  # ORM session bound to the engine
                    await session.execute(notes.insert().values(body=f"session-{k}-{i}"))
                    await session.commit()
                async with engine.connect() as conn:  # explicit commit
                    await conn.execute(notes.insert().values(body=f"connect-{k}-{i}"))
                    await conn.commit()

        async with asyncio.timeout(30):
            ids = [await two_steps.start(n=i) for i in range(20)]
            results = await asyncio.gather(
                user_writes(0), user_writes(1), *[app.wait_for_result(iid, timeout=25) for iid in ids]
            )
        assert results[2:] == [i + 2 for i in range(20)]
        async with engine.connect() as conn:
            assert (await conn.execute(select(func.count()).select_from(notes))).scalar() == 60
    assert len(rows_in_file(db)) == 60


async def test_driving_workflows_while_holding_the_connection_fails_at_once(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    async with EddaApp(service_name="engine", db_url=f"sqlite:///{db}") as app:
        async with app.storage.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        with pytest.raises(RuntimeError, match="holds the SQLite writer connection") as caught:
            async with asyncio.timeout(5):
                async with app.storage.engine.begin() as conn:
                    await conn.execute(notes.insert().values(body="rolled back"))
                    await two_steps.start(n=1)  # would wait for this very connection
        assert "ctx.session" in str(caught.value)  # says what to do instead
        iid = await two_steps.start(n=5)
        assert await app.wait_for_result(iid, timeout=5) == 7
    assert rows_in_file(db) == []


async def test_a_checkout_cancelled_while_waiting_gives_the_writer_its_turn_back(tmp_path: Path) -> None:
    async with EddaApp(service_name="engine", db_url=f"sqlite:///{tmp_path / 'app.db'}") as app:
        engine = app.storage.engine
        release = asyncio.Event()
        holding = asyncio.Event()

        async def hold() -> None:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
                holding.set()
                await release.wait()

        holder = asyncio.create_task(hold())
        await holding.wait()
        waiter = asyncio.create_task(engine.connect().start())
        await asyncio.sleep(0.05)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        release.set()
        await holder
        async with asyncio.timeout(5):
            iid = await two_steps.start(n=0)
            assert await app.wait_for_result(iid, timeout=5) == 2


async def test_in_memory_sqlite_engine_works_too() -> None:
    async with EddaApp(service_name="engine", db_url="sqlite://") as app:
        async with asyncio.timeout(5):
            async with app.storage.engine.begin() as conn:
                await conn.run_sync(metadata.create_all)
                await conn.execute(notes.insert().values(body="mem"))
        iid = await two_steps.start(n=10)
        assert await app.wait_for_result(iid, timeout=5) == 12
        async with app.storage.engine.connect() as conn:
            assert (await conn.execute(select(notes.c.body))).scalars().all() == ["mem"]


async def test_storage_transactions_still_work_beside_the_engine(sqlite_storage: SQLAlchemyStorage) -> None:
    async with asyncio.timeout(10):
        async with sqlite_storage.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        async with sqlite_storage.transaction() as tx:
            await tx.session.execute(notes.insert().values(body="in tx"))
        async with sqlite_storage.engine.connect() as conn:
            assert (await conn.execute(select(notes.c.body))).scalars().all() == ["in tx"]


async def test_engine_before_initialize_and_after_close(sqlite_url: str) -> None:
    storage = SQLAlchemyStorage(sqlite_url)
    with pytest.raises(RuntimeError, match="initialize"):
        storage.engine
    await storage.initialize()
    engine = storage.engine
    await storage.close()
    with pytest.raises(RuntimeError, match="initialize"):
        storage.engine
    with pytest.raises(RuntimeError, match="closed"):
        async with asyncio.timeout(5):
            async with engine.connect():
                pass


@pytest.fixture(params=["postgresql", "mysql"])
def server_storage(request: pytest.FixtureRequest) -> SQLAlchemyStorage:
    """The storage on each server dialect (skipped without its URL)."""
    return request.getfixturevalue("postgres_storage" if request.param == "postgresql" else "mysql_storage")


async def test_server_engines_take_user_tables_beside_edda(server_storage: SQLAlchemyStorage) -> None:
    storage = server_storage
    now = datetime.now(UTC)
    async with asyncio.timeout(30):
        async with storage.engine.begin() as conn:
            await conn.run_sync(lambda sync: notes.drop(sync, checkfirst=True))
            await conn.run_sync(metadata.create_all)
        try:
            async with storage.engine.begin() as conn:
                await conn.execute(notes.insert().values(body="server"))
                # the pool has other connections: Edda's writes go ahead while this one is held
                await storage.create_instance(NewInstance("i-1", "wf", {}, "w", now, now + timedelta(seconds=60)))
            async with storage.engine.connect() as conn:
                assert (await conn.execute(select(notes.c.body))).scalars().all() == ["server"]
            assert (await storage.get_instance("i-1")) is not None
        finally:
            async with storage.engine.begin() as conn:
                await conn.run_sync(lambda sync: notes.drop(sync, checkfirst=True))
