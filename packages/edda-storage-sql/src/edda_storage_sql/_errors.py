"""Classifying driver errors: lost connections and refused writes become ``StorageUnavailableError``; deadlocks
are retried.

The engine reacts to :class:`~edda.exceptions.StorageUnavailableError` by re-claiming and replaying (with backoff),
so every failure that is the database's state rather than the request's must surface as that type: connection-level
failures (server restarted, backend terminated, network gone) and a database that still answers reads but refuses
writes (a read-only PostgreSQL or MySQL after a failover, ``read_only`` set, a full disk). The message must name the
database without echoing its URL (which may hold a password).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy import exc as sa_exc

from edda.exceptions import StorageUnavailableError
from edda_storage_sql._url import DatabaseTarget

__all__ = [
    "is_conflict",
    "is_disconnect",
    "is_duplicate_key",
    "is_sqlite_unavailable",
    "is_write_refused",
    "unavailable",
]

# SQLSTATE: 08xxx connection exceptions; 57P01-03 admin/crash shutdown, cannot connect now.
_PG_DISCONNECT_STATES = frozenset({"57P01", "57P02", "57P03"})
_PG_CONFLICT_STATES = frozenset({"40001", "40P01"})
# MySQL client/server error codes meaning the connection is unusable.
_MYSQL_DISCONNECT_CODES = frozenset({1053, 1152, 1153, 1927, 2002, 2003, 2006, 2013, 2014, 2045, 2055, 4031})
_MYSQL_CONFLICT_CODES = frozenset({1205, 1213})
# SQLSTATE: 25006 read_only_sql_transaction (a hot standby, default_transaction_read_only); 53100 disk_full.
_PG_WRITE_REFUSED_STATES = frozenset({"25006", "53100"})
# MySQL/MariaDB: 1290 --read-only (or --super-read-only) option; 1792 a READ ONLY transaction; 1836 running in
# read-only mode (MariaDB); 3989 schema is read only (MySQL 8); 1021 disk full; 1114 table is full (out of space).
_MYSQL_WRITE_REFUSED_CODES = frozenset({1290, 1792, 1836, 3989, 1021, 1114})
# SQLite primary result codes: 5 BUSY, 8 READONLY, 10 IOERR, 13 FULL, 14 CANTOPEN.
_SQLITE_UNAVAILABLE_CODES = frozenset({5, 8, 10, 13, 14})
_SQLITE_WRITE_REFUSED_CODES = frozenset({8, 10, 13})
_SQLITE_UNAVAILABLE = (
    "unable to open database file",
    "disk i/o error",
    "database is locked",
    "readonly database",
    "database or disk is full",
)
_SQLITE_WRITE_REFUSED = ("disk i/o error", "readonly database", "database or disk is full")


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 6:
        chain.append(current)
        if isinstance(current, sa_exc.DBAPIError) and current.orig is not None:
            current = current.orig
        else:
            current = current.__cause__
    return chain


def _mysql_code(exc: BaseException) -> int | None:
    if type(exc).__module__.split(".")[0] not in ("pymysql", "aiomysql"):
        return None
    args: tuple[Any, ...] = exc.args
    return args[0] if args and isinstance(args[0], int) else None


def _is_asyncpg(exc: BaseException) -> bool:
    return type(exc).__module__.split(".")[0] == "asyncpg"


def is_disconnect(exc: BaseException) -> bool:
    """Whether ``exc`` means the database connection is gone (the pool should drop it)."""
    for err in _causes(exc):
        if isinstance(err, sa_exc.DBAPIError) and err.connection_invalidated:
            return True
        if isinstance(err, ConnectionError | TimeoutError) or type(err) is OSError:
            return True
        state = getattr(err, "sqlstate", None)
        if isinstance(state, str) and (state.startswith("08") or state in _PG_DISCONNECT_STATES):
            return True
        code = _mysql_code(err)
        if code is not None and (code in _MYSQL_DISCONNECT_CODES or (code == 0 and "Interface" in type(err).__name__)):
            return True
        name = type(err).__name__
        text = str(err).lower()
        if name in ("ConnectionDoesNotExistError", "InterfaceError") and (
            "connection is closed" in text or "connection was closed" in text or "not connected" in text
        ):
            return True
        if _is_asyncpg(err) and (
            name == "InternalClientError" or (name == "InterfaceError" and "another operation is in progress" in text)
        ):
            # The client's protocol state is broken, typically because the server ended the session while the
            # connection was idle in the pool ("cannot switch to state 12; another operation (2) is in progress").
            return True
    return False


def is_conflict(exc: BaseException) -> bool:
    """Whether ``exc`` is a deadlock or serialization failure (the transaction was rolled back; retry it)."""
    for err in _causes(exc):
        if getattr(err, "sqlstate", None) in _PG_CONFLICT_STATES:
            return True
        if _mysql_code(err) in _MYSQL_CONFLICT_CODES:
            return True
    return False


def is_duplicate_key(exc: BaseException) -> bool:
    """Whether ``exc`` is a MySQL duplicate-key error (1062)."""
    return any(_mysql_code(err) == 1062 for err in _causes(exc))


def _sqlite_code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None  # the primary code of an extended one


def is_sqlite_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` is a SQLite error about the file itself (missing directory, I/O, full disk, read-only file,
    locked by another process) rather than about the statement."""
    if not isinstance(exc, sqlite3.DatabaseError):
        return False
    code = _sqlite_code(exc)
    if code is not None and code in _SQLITE_UNAVAILABLE_CODES:
        return True
    return isinstance(exc, sqlite3.OperationalError) and any(s in str(exc).lower() for s in _SQLITE_UNAVAILABLE)


def is_write_refused(exc: BaseException) -> bool:
    """Whether ``exc`` means the database answers but refuses to write: read-only (a standby after a failover,
    ``default_transaction_read_only``, ``read_only``, a read-only file) or out of space (a full disk)."""
    for err in _causes(exc):
        if getattr(err, "sqlstate", None) in _PG_WRITE_REFUSED_STATES:
            return True
        if _mysql_code(err) in _MYSQL_WRITE_REFUSED_CODES:
            return True
        if isinstance(err, sqlite3.Error):
            code = _sqlite_code(err)
            if code is not None:
                return code in _SQLITE_WRITE_REFUSED_CODES
            return any(s in str(err).lower() for s in _SQLITE_WRITE_REFUSED)
    return False


def _reason(exc: BaseException, target: DatabaseTarget) -> str:
    err = exc.orig if isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None else exc
    text = " ".join(str(err).split()) or type(err).__name__
    password = target.url.password
    if password:
        text = text.replace(str(password), "***")
    if len(text) > 300:
        text = text[:297] + "..."
    return f"{type(err).__name__}: {text}"


def unavailable(target: DatabaseTarget, exc: BaseException, *, doing: str) -> StorageUnavailableError:
    """A :class:`StorageUnavailableError` for ``exc`` naming dialect, host and port but never the URL."""
    hint = ""
    if is_write_refused(exc):
        hint = (
            " The database answers but refuses writes (read-only after a failover or by configuration, or out of "
            "disk space); Edda retries with backoff and carries on once writes are accepted again."
        )
        doing = "write to" if doing == "use" else doing
    elif isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc).lower():
        hint = " Another process holds a write lock on the file; Edda's SQLite storage expects one process."
    elif target.dialect != "sqlite":
        hint = " Check that the server is running and reachable, and the credentials and database name."
    return StorageUnavailableError(f"Cannot {doing} the {target.describe()} ({_reason(exc, target)}).{hint}")
