"""The transaction handed out by ``SQLAlchemyStorage.begin()``/``transaction()`` (``ctx.session`` comes from here).

It costs nothing until first used: ``begin()`` and the ``session`` property do no I/O, so an activity that never
touches ``ctx.session`` opens no interactive transaction. The transaction is an ``AsyncSession``'s: the session
checks a connection out of the pool on first use and begins; Edda's own writes (``commit_step(..., tx=tx)``) run on
that same connection, so business rows and history commit together.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, NoReturn, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from edda.exceptions import StorageUnavailableError
from edda_storage_sql._sql import Op, run_sqlalchemy

__all__ = ["SQLTransaction"]

T = TypeVar("T")


class SQLTransaction:
    """A database transaction shared by Edda and user code, opened lazily.

    Edda's writes (``commit_step(..., tx=tx)``) and the user's writes through :attr:`session` commit together in
    :meth:`commit`, or are discarded together by :meth:`rollback`.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        owner: object,
        runner: Callable[[Op[Any], AsyncConnection], Awaitable[Any]] = run_sqlalchemy,
        on_start: Callable[[], Callable[[], None] | None] | None = None,
        map_error: Callable[[Exception], Exception] | None = None,
        drop_unavailable: bool = False,
    ) -> None:
        self._engine = engine
        self._runner = runner
        self._owner = owner
        self._on_start = on_start
        self._on_end: Callable[[], None] | None = None
        self._map_error = map_error
        self._session: AsyncSession | None = None
        self._done = False
        self._drop_unavailable = drop_unavailable
        self._discard = False  # the connection answered "unavailable" (e.g. read-only): do not pool it again

    @property
    def session(self) -> AsyncSession:
        """The SQLAlchemy ``AsyncSession`` of this transaction (created on first access, without I/O).

        Do not call ``commit()``/``rollback()`` on it: the transaction commits as a whole.
        """
        if self._done:
            raise RuntimeError("This transaction has ended; its session is no longer usable.")
        if self._session is None:
            if self._on_start is not None:
                self._on_end = self._on_start()
            self._session = AsyncSession(bind=self._engine, expire_on_commit=False)
        return self._session

    async def connection(self) -> AsyncConnection:
        """The transaction's ``AsyncConnection`` (checked out and begun on first use), for Core statements."""
        try:
            return await self.session.connection()
        except Exception as exc:
            self._raise(exc)

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """A nested transaction (``SAVEPOINT``): if the block raises, only its writes are rolled back."""
        async with self.session.begin_nested():
            yield

    async def run(self, op: Op[T], owner: object) -> T:
        """Run one of the storage's operations inside this transaction."""
        if owner is not self._owner:
            raise ValueError("This transaction belongs to another storage object; pass a transaction it opened.")
        if self._done:
            raise RuntimeError("This transaction has ended; open a new one with storage.begin().")
        conn = await self.connection()
        try:
            return await self._runner(op, conn)
        except Exception as exc:
            self._raise(exc)

    async def commit(self) -> None:
        """Commit everything done in the transaction (no-op if it was never used).

        Raises:
            RuntimeError: the transaction already ended.
            StorageUnavailableError: the connection was lost (the outcome is then unknown).
        """
        if self._done:
            raise RuntimeError("This transaction already ended (committed or rolled back).")
        self._done = True
        if self._session is None:
            return
        try:
            await self._session.commit()
        except Exception as exc:
            self._raise(exc)
        finally:
            await self._close()

    async def rollback(self) -> None:
        """Discard everything done in the transaction. Safe to call more than once, and after a failed commit."""
        self._done = True
        if self._session is None:
            return
        try:
            await self._session.rollback()
        except Exception:  # a broken connection rolls back by itself; there is nothing left to undo
            pass
        finally:
            await self._close()

    async def _close(self) -> None:
        session, self._session = self._session, None
        try:
            if session is not None and self._discard:
                await session.invalidate()  # a new connection may reach a writable primary
            elif session is not None:
                await session.close()
        except Exception:  # the connection may be gone; it is invalidated by the pool
            pass
        finally:
            on_end, self._on_end = self._on_end, None
            if on_end is not None:
                on_end()

    def _raise(self, exc: Exception) -> NoReturn:
        mapped = self._map_error(exc) if self._map_error is not None else exc
        if mapped is exc:
            raise exc
        if self._drop_unavailable and isinstance(mapped, StorageUnavailableError):
            self._discard = True
        raise mapped from exc
