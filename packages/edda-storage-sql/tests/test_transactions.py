"""``ctx.session``-style atomicity: business rows written through ``tx.session`` commit or vanish with the history."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from edda.storage.records import Fence, NewHistoryEvent, NewInstance, NewOutboxEvent, StepCommit
from edda_storage_sql import SQLAlchemyStorage, SQLTransaction

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Base(DeclarativeBase):
    pass


class Payment(Base):
    __tablename__ = "test_payments"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(String(64))


orders_metadata = MetaData()
orders = Table("test_orders", orders_metadata, Column("id", String(64), primary_key=True), Column("qty", Integer))


async def _setup(storage: SQLAlchemyStorage) -> None:
    async with storage.transaction() as tx:
        conn = await tx.connection()
        await conn.run_sync(orders_metadata.create_all)
        await conn.run_sync(Base.metadata.create_all)
    async with storage.transaction() as tx:
        await tx.session.execute(orders.delete())
        await tx.session.execute(Payment.__table__.delete())  # type: ignore[arg-type]
    await storage.create_instance(NewInstance("i", "wf", {}, "w", T0, T0 + timedelta(seconds=60)))


def _step(n: int) -> StepCommit:
    return StepCommit(
        Fence("i", "w", 1),
        T0,
        history=(NewHistoryEvent(f"a:{n}", "ActivityCompleted", {"n": n}),),
        outbox=(NewOutboxEvent(f"e{n}-{uuid.uuid4().hex}", "order.paid", "test", {"n": n}),),
    )


async def _counts(storage: SQLAlchemyStorage) -> tuple[int, int, int, int]:
    async with storage.transaction() as tx:
        session: AsyncSession = tx.session
        n_orders = (await session.execute(select(func.count()).select_from(orders))).scalar_one()
        n_payments = (await session.execute(select(func.count()).select_from(Payment))).scalar_one()
    return n_orders, n_payments, len(await storage.get_history("i")), len(await storage.list_outbox())


async def test_business_rows_commit_with_history(any_storage: SQLAlchemyStorage) -> None:
    storage = any_storage
    await _setup(storage)
    async with storage.transaction() as tx:
        assert isinstance(tx, SQLTransaction)
        await tx.session.execute(insert(orders).values(id="A-1", qty=2))
        tx.session.add(Payment(order_id="A-1"))  # flushed when the transaction commits, like the seed's example
        await storage.commit_step(_step(1), tx=tx)
    assert await _counts(storage) == (1, 1, 1, 1)


async def test_failure_discards_business_rows_and_history(any_storage: SQLAlchemyStorage) -> None:
    storage = any_storage
    await _setup(storage)
    with pytest.raises(RuntimeError, match="card declined"):
        async with storage.transaction() as tx:
            await tx.session.execute(insert(orders).values(id="A-2", qty=1))
            tx.session.add(Payment(order_id="A-2"))
            await storage.commit_step(_step(2), tx=tx)
            raise RuntimeError("card declined")
    assert await _counts(storage) == (0, 0, 0, 0)


async def test_begin_rollback_and_savepoint(any_storage: SQLAlchemyStorage) -> None:
    storage = any_storage
    await _setup(storage)
    tx = storage.begin()
    await tx.session.execute(insert(orders).values(id="B-1", qty=1))
    with pytest.raises(ValueError):
        async with tx.savepoint():
            await tx.session.execute(insert(orders).values(id="B-2", qty=1))
            await storage.commit_step(_step(3), tx=tx)
            raise ValueError("inner")
    await storage.commit_step(_step(4), tx=tx)
    await tx.commit()
    assert [h.activity_id for h in await storage.get_history("i")] == ["a:4"]
    assert (await _counts(storage))[0] == 1
    with pytest.raises(RuntimeError, match="already ended"):
        await tx.commit()
    await tx.rollback()  # harmless after the end


async def test_transactions_belong_to_their_storage(any_storage: SQLAlchemyStorage, tmp_path: object) -> None:
    other = SQLAlchemyStorage(f"sqlite:///{tmp_path}/other.db")
    await other.initialize()
    await any_storage.create_instance(NewInstance("i", "wf", {}, "w", T0, T0 + timedelta(seconds=60)))
    foreign = other.begin()
    with pytest.raises(ValueError, match="another storage"):
        await any_storage.commit_step(_step(1), tx=foreign)
    await foreign.rollback()
    await other.close()
