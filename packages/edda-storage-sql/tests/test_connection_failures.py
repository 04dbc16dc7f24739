"""Unreachable databases and lost connections surface as StorageUnavailableError; the pool recovers afterwards."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import make_url

from edda.exceptions import StorageUnavailableError
from edda.storage.records import Fence, NewHistoryEvent, NewInstance, StepCommit
from edda_storage_sql import SQLAlchemyStorage

from .conftest import _pg_execute, run_async, server_url

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SECRET = "s3cr3t-Pa55word"


def _assert_safe(exc: BaseException, *needles: str) -> None:
    for text in (str(exc), repr(exc)):
        assert SECRET not in text
        for needle in needles:
            assert needle in text


@pytest.mark.parametrize(
    ("url", "needles"),
    [
        (f"postgresql://edda:{SECRET}@127.0.0.1:1/orders", ("PostgreSQL", "127.0.0.1:1", "orders")),
        (f"mysql://edda:{SECRET}@127.0.0.1:1/orders", ("MySQL", "127.0.0.1:1", "orders")),
    ],
)
async def test_unreachable_server_names_dialect_host_and_port_never_the_password(
    url: str, needles: tuple[str, ...]
) -> None:
    storage = SQLAlchemyStorage(url)
    with pytest.raises(StorageUnavailableError) as info:
        await storage.initialize()
    _assert_safe(info.value, *needles)
    await storage.close()


async def test_unopenable_sqlite_file(tmp_path: object) -> None:
    storage = SQLAlchemyStorage(f"sqlite:///{tmp_path}/no/such/dir/x.db")
    with pytest.raises(StorageUnavailableError, match="SQLite"):
        await storage.initialize()
    await storage.close()


@pytest.mark.postgres
async def test_wrong_database_name_is_unavailable() -> None:
    url = server_url("postgresql").set(drivername="postgresql", password=SECRET, database="edda_no_such_db_x")
    storage = SQLAlchemyStorage(url.render_as_string(hide_password=False))
    with pytest.raises(StorageUnavailableError) as info:
        await storage.initialize()
    _assert_safe(info.value, "edda_no_such_db_x")
    await storage.close()


async def _new(storage: SQLAlchemyStorage, name: str) -> str:
    """Create an instance held by worker ``w`` (epoch 1) and return its id: unique in the session's shared database,
    its lease live for good, so that nothing else on that database can hold or claim it between the test's writes."""
    iid = f"{name}-{uuid.uuid4().hex[:8]}"
    record, created = await storage.create_instance(NewInstance(iid, "wf", {}, "w", T0, T0 + timedelta(days=365 * 100)))
    assert created and record.owner_id == "w" and record.lease_epoch == 1
    return iid


def _kill_connections(dialect: str, database: str) -> int:
    base = server_url(dialect)
    if dialect == "postgresql":
        sql = (
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}' "
            "AND pid <> pg_backend_pid()"
        )
        run_async(lambda: _pg_execute(base, sql))
        return 1
    import pymysql

    conn = pymysql.connect(
        host=base.host or "127.0.0.1",
        port=base.port or 3306,
        user=base.username or "root",
        password=base.password or "",
        autocommit=True,
    )
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT id FROM information_schema.processlist WHERE db = %s AND id <> CONNECTION_ID()", (database,)
            )
            ids = [row[0] for row in cur.fetchall()]
            for pid in ids:
                cur.execute(f"KILL {int(pid)}")
    finally:
        conn.close()
    return len(ids)


async def _survives_killed_connections(storage: SQLAlchemyStorage, dialect: str, database: str) -> None:
    a = await _new(storage, "a")
    # open several pooled connections, all recently used
    await asyncio.gather(*(storage.get_instance(a) for _ in range(4)))
    assert _kill_connections(dialect, database) >= 1
    await asyncio.sleep(0.2)
    # a read either reconnects transparently or reports the storage unavailable, never anything else
    try:
        assert (await storage.get_instance(a)) is not None
    except StorageUnavailableError:
        pass
    _kill_connections(dialect, database)
    await asyncio.sleep(0.2)
    try:  # a write on a dead connection is not retried blindly (its outcome may be unknown): it may raise this
        await storage.commit_step(StepCommit(Fence(a, "w", 1), T0, history=(NewHistoryEvent("x:1", "T", {}),)))
    except StorageUnavailableError:
        pass
    # afterwards everything works again
    bs = [await _new(storage, f"b{n}") for n in range(5)]
    for b in bs:
        assert await storage.get_instance(b) is not None
    async with storage.transaction() as tx:
        await storage.commit_step(
            StepCommit(Fence(bs[0], "w", 1), T0, history=(NewHistoryEvent("y:1", "T", {}),)), tx=tx
        )
    assert [h.activity_id for h in await storage.get_history(bs[0])] == ["y:1"]


@pytest.mark.postgres
async def test_postgres_recovers_after_pg_terminate_backend(
    postgres_storage: SQLAlchemyStorage, postgres_database: str
) -> None:
    await _survives_killed_connections(postgres_storage, "postgresql", make_url(postgres_database).database or "")


@pytest.mark.mysql
async def test_mysql_recovers_after_kill(mysql_storage: SQLAlchemyStorage, mysql_database: str) -> None:
    await _survives_killed_connections(mysql_storage, "mysql", make_url(mysql_database).database or "")


@pytest.mark.postgres
async def test_write_on_killed_connection_raises_storage_unavailable(postgres_database: str) -> None:
    storage = SQLAlchemyStorage(postgres_database, pool_size=1, max_overflow=0)
    await storage.initialize()
    k = await _new(storage, "k")
    _kill_connections("postgresql", make_url(postgres_database).database or "")
    await asyncio.sleep(0.2)
    with pytest.raises(StorageUnavailableError, match="PostgreSQL"):
        await storage.commit_step(StepCommit(Fence(k, "w", 1), T0, history=(NewHistoryEvent("x:1", "T", {}),)))
    await storage.commit_step(StepCommit(Fence(k, "w", 1), T0, history=(NewHistoryEvent("x:2", "T", {}),)))
    assert [h.activity_id for h in await storage.get_history(k)] == ["x:2"]
    await storage.close()


@pytest.mark.mysql
async def test_mysql_write_on_killed_connection_raises_storage_unavailable(mysql_database: str) -> None:
    storage = SQLAlchemyStorage(mysql_database, pool_size=1, max_overflow=0)
    await storage.initialize()
    k = await _new(storage, "k")
    _kill_connections("mysql", make_url(mysql_database).database or "")
    await asyncio.sleep(0.2)
    with pytest.raises(StorageUnavailableError, match="MySQL"):
        await storage.commit_step(StepCommit(Fence(k, "w", 1), T0, history=(NewHistoryEvent("x:1", "T", {}),)))
    await storage.commit_step(StepCommit(Fence(k, "w", 1), T0, history=(NewHistoryEvent("x:2", "T", {}),)))
    assert [h.activity_id for h in await storage.get_history(k)] == ["x:2"]
    await storage.close()


@pytest.mark.postgres
async def test_idle_connections_are_pinged_after_a_pause(
    postgres_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from edda_storage_sql import _pool

    monkeypatch.setattr(_pool, "IDLE_PING_S", 0.05)
    storage = SQLAlchemyStorage(postgres_database, pool_size=1, max_overflow=0)
    await storage.initialize()
    p = await _new(storage, "p")
    _kill_connections("postgresql", make_url(postgres_database).database or "")
    await asyncio.sleep(0.2)  # idle long enough: the checkout pings, finds it dead and reconnects
    await storage.commit_step(StepCommit(Fence(p, "w", 1), T0, history=(NewHistoryEvent("x:1", "T", {}),)))
    await storage.close()
