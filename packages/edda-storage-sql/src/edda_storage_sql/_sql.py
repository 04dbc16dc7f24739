"""Statements written once, run by whichever connection an operation gets.

An operation (:mod:`._instances`, :mod:`._history`, :mod:`._leases`, :mod:`._commit`, :mod:`._channels`,
:mod:`._outbox`) is a generator that yields statements and receives their results; it does no I/O itself. Four small
runners execute it (the executors of :mod:`._executor` choose which):

* :func:`run_sync` on a ``sqlite3`` connection, inside the SQLite writer's or a reader's thread;
* :func:`run_asyncpg` and :func:`run_aiomysql` on the raw driver connection of a pooled SQLAlchemy connection;
* :func:`run_sqlalchemy` on a SQLAlchemy ``AsyncConnection`` inside a user-visible transaction.

Why not run everything through SQLAlchemy: measured on this project's hardware, SQLAlchemy's asyncio layer costs
0.3-0.5 ms per durable commit on top of the driver (greenlet switches, result wrapping, a ``pool_pre_ping`` of three
round trips on asyncpg), and the drivers alone commit in 0.1-0.25 ms. SQLAlchemy still owns the engine, the pool,
dialect detection and the ``AsyncSession`` handed to user code; only the hot statements skip its execution layer.
Why generators: one definition of each operation serves a blocking ``sqlite3`` connection in a thread and three async
drivers, without writing every operation twice.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import text as sa_text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import TextClause

__all__ = [
    "Execute",
    "ExecuteMany",
    "Op",
    "Query",
    "Script",
    "Sql",
    "Statement",
    "run_aiomysql",
    "run_asyncpg",
    "run_sqlalchemy",
    "run_sync",
]

T = TypeVar("T")
Row = Sequence[Any]

_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


class Sql:
    """A SQL statement with ``:name`` parameters, rendered lazily for each driver's parameter style.

    ``::`` casts are not allowed (write ``CAST(x AS type)``), so a colon always starts a parameter.
    """

    __slots__ = ("_clause", "_dollar", "_pyformat", "text")

    def __init__(self, text: str) -> None:
        if "::" in text:
            raise ValueError("write CAST(x AS type) instead of x::type in Sql statements")
        self.text = text
        self._dollar: tuple[str, tuple[str, ...]] | None = None
        self._pyformat: str | None = None
        self._clause: TextClause | None = None

    def dollar(self) -> tuple[str, tuple[str, ...]]:
        """The statement in asyncpg's ``$1`` style, and the parameter names in position order."""
        if self._dollar is None:
            names: list[str] = []

            def number(match: re.Match[str]) -> str:
                name = match.group(1)
                if name not in names:
                    names.append(name)
                return f"${names.index(name) + 1}"

            self._dollar = (_PARAM.sub(number, self.text), tuple(names))
        return self._dollar

    def pyformat(self) -> str:
        """The statement in PyMySQL's ``%(name)s`` style."""
        if self._pyformat is None:
            self._pyformat = _PARAM.sub(r"%(\1)s", self.text.replace("%", "%%"))
        return self._pyformat

    def clause(self) -> TextClause:
        """The statement as a SQLAlchemy ``text()`` construct (compiled once, then cached by SQLAlchemy)."""
        if self._clause is None:
            self._clause = sa_text(self.text)
        return self._clause

    def __repr__(self) -> str:
        return f"Sql({self.text!r})"


@dataclass(frozen=True, slots=True)
class Query:
    """Run ``sql`` and send back its rows (a list of sequences)."""

    sql: Sql
    params: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Execute:
    """Run ``sql`` and send back the number of rows it matched."""

    sql: Sql
    params: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ExecuteMany:
    """Run ``sql`` once per parameter set (sends back ``None``)."""

    sql: Sql
    rows: Sequence[Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class Script:
    """Run one parameterless statement verbatim (DDL)."""

    text: str


Statement = Query | Execute | ExecuteMany | Script


@dataclass(slots=True)
class Op(Generic[T]):
    """An operation: a generator of statements returning ``T``.

    ``autocommit`` says every statement of the operation is complete on its own (a single write, or a write followed
    only by reads), so a driver may run it without ``BEGIN``/``COMMIT`` round trips.
    """

    steps: Generator[Statement, Any, T]
    autocommit: bool = False


# -- sqlite3 (blocking; called in a worker thread) ---------------------------------------------------------------


def run_sync(op: Op[T], conn: sqlite3.Connection) -> T:
    """Run ``op`` on a ``sqlite3`` connection, in whatever transaction the connection is in."""
    steps = op.steps
    reply: Any = None
    try:
        while True:
            reply = _sqlite_execute(conn, steps.send(reply))
    except StopIteration as done:
        return done.value


def _sqlite_execute(conn: sqlite3.Connection, stmt: Statement) -> Any:
    if isinstance(stmt, Query):
        return conn.execute(stmt.sql.text, stmt.params).fetchall()
    if isinstance(stmt, Execute):
        return conn.execute(stmt.sql.text, stmt.params).rowcount
    if isinstance(stmt, ExecuteMany):
        if stmt.rows:
            conn.executemany(stmt.sql.text, stmt.rows)
        return None
    conn.execute(stmt.text)
    return None


# -- asyncpg -------------------------------------------------------------------------------------------------------


async def run_asyncpg(op: Op[T], conn: Any) -> T:
    """Run ``op`` on an asyncpg connection: one statement in autocommit, several in a transaction."""
    if op.autocommit:
        return await _drive_asyncpg(op, conn)
    async with conn.transaction():
        return await _drive_asyncpg(op, conn)


async def _drive_asyncpg(op: Op[T], conn: Any) -> T:
    steps = op.steps
    reply: Any = None
    try:
        while True:
            stmt = steps.send(reply)
            reply = await _asyncpg_execute(conn, stmt)
    except StopIteration as done:
        return done.value


async def _asyncpg_execute(conn: Any, stmt: Statement) -> Any:
    if isinstance(stmt, Script):
        await conn.execute(stmt.text)
        return None
    sql, names = stmt.sql.dollar()
    if isinstance(stmt, Query):
        return await conn.fetch(sql, *[stmt.params[n] for n in names])
    if isinstance(stmt, Execute):
        status: str = await conn.execute(sql, *[stmt.params[n] for n in names])
        tail = status.rsplit(" ", 1)[-1]
        return int(tail) if tail.isdigit() else 0
    if len(stmt.rows) == 1:  # asyncpg's executemany costs more than execute for a single row
        await conn.execute(sql, *[stmt.rows[0][n] for n in names])
    elif stmt.rows:
        await conn.executemany(sql, [[row[n] for n in names] for row in stmt.rows])
    return None


# -- aiomysql -------------------------------------------------------------------------------------------------------
#
# Parameters are rendered into the statement here, with the connection's own ``escape()`` for everything but bytes,
# which become hex literals (``X'00ff'``). aiomysql 0.3 escapes ``bytes`` through a PyMySQL function that PyMySQL 1.2
# removed, so letting the driver do it breaks every binary value; hex literals also never depend on the session's
# character set or SQL mode. A multi-row ``INSERT`` is sent as few statements as fit in ~1 MB each.

_MAX_STATEMENT = 1_000_000


def _literal(conn: Any, value: Any) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return "X'" + bytes(value).hex() + "'"
    return conn.escape(value)


def _render(conn: Any, sql: str, params: Mapping[str, Any]) -> str:
    return sql % {k: _literal(conn, v) for k, v in params.items()}


async def run_aiomysql(
    op: Op[T], conn: Any, *, handles: Callable[[BaseException], bool] | None = None, commit: bool = True
) -> T:
    """Run ``op`` on an aiomysql connection (autocommit off); commit, or roll back if anything fails.

    With ``commit=False`` the operation joins the connection's open transaction and neither commits nor rolls back.
    A failed statement whose error ``handles`` accepts is thrown into the operation, which may carry on: MySQL keeps
    the transaction open after a failed statement.
    """
    try:
        async with conn.cursor() as cur:
            steps = op.steps
            reply: Any = None
            try:
                while True:
                    stmt = steps.send(reply)
                    try:
                        reply = await _aiomysql_execute(conn, cur, stmt)
                    except Exception as exc:
                        if handles is None or not handles(exc):
                            raise
                        stmt = steps.throw(exc)
                        reply = await _aiomysql_execute(conn, cur, stmt)
            except StopIteration as done:
                result = done.value
        if commit:
            await conn.commit()
        return result
    except BaseException:
        if commit:
            try:
                await conn.rollback()
            except Exception:  # the connection may be gone; the caller reports the original error
                pass
        raise


async def _aiomysql_execute(conn: Any, cur: Any, stmt: Statement) -> Any:
    if isinstance(stmt, Script):
        await cur.execute(stmt.text)
        return None
    if isinstance(stmt, Query):
        await cur.execute(_render(conn, stmt.sql.pyformat(), stmt.params))
        return list(await cur.fetchall())
    if isinstance(stmt, Execute):
        await cur.execute(_render(conn, stmt.sql.pyformat(), stmt.params))
        return cur.rowcount
    if not stmt.rows:
        return None
    sql = stmt.sql.pyformat()
    head, sep, values = sql.partition(" VALUES ")
    if not sep:
        for row in stmt.rows:
            await cur.execute(_render(conn, sql, row))
        return None
    batch: list[str] = []
    size = 0
    for row in stmt.rows:
        rendered = _render(conn, values, row)
        if batch and size + len(rendered) > _MAX_STATEMENT:
            await cur.execute(f"{head} VALUES {', '.join(batch)}")
            batch, size = [], 0
        batch.append(rendered)
        size += len(rendered) + 2
    await cur.execute(f"{head} VALUES {', '.join(batch)}")
    return None


# -- SQLAlchemy (inside a transaction the caller controls) --------------------------------------------------------


async def run_sqlalchemy(op: Op[T], conn: AsyncConnection) -> T:
    """Run ``op`` on a SQLAlchemy ``AsyncConnection`` in its current transaction (no commit)."""
    steps = op.steps
    reply: Any = None
    try:
        while True:
            stmt = steps.send(reply)
            if isinstance(stmt, Script):
                await conn.exec_driver_sql(stmt.text)
                reply = None
            elif isinstance(stmt, Query):
                reply = (await conn.execute(stmt.sql.clause(), dict(stmt.params))).all()
            elif isinstance(stmt, Execute):
                reply = (await conn.execute(stmt.sql.clause(), dict(stmt.params))).rowcount
            else:
                if stmt.rows:
                    await conn.execute(stmt.sql.clause(), [dict(r) for r in stmt.rows])
                reply = None
    except StopIteration as done:
        return done.value
