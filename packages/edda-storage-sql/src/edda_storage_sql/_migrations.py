"""The schema, as versioned SQL files, and applying them safely when several workers start at once.

The files live in ``migrations/<dialect>/NNNN_name.sql`` inside this package and use dbmate's format: a
``-- migrate:up`` section, a ``-- migrate:down`` section, the version is the file name's numeric prefix, and applied
versions are rows of a ``schema_migrations(version)`` table. So ``dbmate up`` (or ``psql``/``mysql``/``sqlite3`` fed the
up sections) produces exactly the schema ``initialize()`` would, and ``initialize()`` recognizes a database migrated
that way.

Exactly one worker migrates an empty database: PostgreSQL takes a transaction-level advisory lock
(``pg_advisory_xact_lock``) and migrates inside that transaction; MySQL takes a session lock (``GET_LOCK``) on the
connection that migrates; SQLite migrates inside ``BEGIN IMMEDIATE``. The others wait for the lock, then find the
versions recorded and do nothing. All three locks die with the session or transaction, so a migrator that crashes
leaves no lock behind (on PostgreSQL and SQLite its half-done migration is also rolled back; MySQL commits DDL as it
goes, which is why the MySQL files use ``IF NOT EXISTS`` and can be re-run).
"""

from __future__ import annotations

import hashlib
import logging
import re
import sqlite3
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from edda.exceptions import ConfigurationError, StorageUnavailableError
from edda_storage_sql._url import DatabaseTarget

__all__ = [
    "Migration",
    "load_migrations",
    "migrate_mysql",
    "migrate_postgresql",
    "migrate_sqlite",
    "migrations_dir",
    "split_statements",
]

logger = logging.getLogger("edda_storage_sql")

_CREATE_TABLE = "CREATE TABLE IF NOT EXISTS schema_migrations (version VARCHAR(128) NOT NULL PRIMARY KEY)"
_FILE_NAME = re.compile(r"^(\d+)_[\w.-]*\.sql$")
_SECTION = re.compile(r"^--\s*migrate:(up|down)\b.*$", re.MULTILINE)
# A fixed 64-bit key for pg_advisory_xact_lock, derived from a name so it is unlikely to clash with other users' keys.
_PG_LOCK_KEY = int.from_bytes(hashlib.sha256(b"edda_storage_sql.migrations").digest()[:8], "big", signed=True)
_MYSQL_LOCK_TIMEOUT_S = 120


@dataclass(frozen=True)
class Migration:
    """One migration file: its version (the numeric file name prefix) and its up/down statements."""

    version: str
    path: Path
    up: tuple[str, ...]
    down: tuple[str, ...]


def migrations_dir(dialect: str) -> Path:
    """The directory holding the migration files for ``dialect`` (``sqlite``, ``postgresql`` or ``mysql``).

    Point dbmate at it to manage the schema yourself: ``dbmate --migrations-dir <this dir> up``.
    """
    names = {"postgres": "postgresql", "mariadb": "mysql"}
    path = Path(__file__).parent / "migrations" / names.get(dialect, dialect)
    if not path.is_dir():
        raise ConfigurationError(f"No Edda migrations for dialect {dialect!r}; there are: sqlite, postgresql, mysql.")
    return path


@cache
def load_migrations(dialect: str) -> tuple[Migration, ...]:
    """Every migration of ``dialect``, in version order."""
    found = []
    for path in migrations_dir(dialect).iterdir():
        match = _FILE_NAME.match(path.name)
        if match is None:
            continue
        up, down = _sections(path.read_text(encoding="utf-8"))
        found.append(Migration(match.group(1), path, tuple(split_statements(up)), tuple(split_statements(down))))
    return tuple(sorted(found, key=lambda m: int(m.version)))


def _sections(text: str) -> tuple[str, str]:
    parts: dict[str, str] = {}
    marks = list(_SECTION.finditer(text))
    for i, mark in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        parts[mark.group(1)] = text[mark.end() : end]
    return parts.get("up", ""), parts.get("down", "")


def split_statements(script: str) -> list[str]:
    """Split SQL text into statements at top-level ``;``, dropping ``--`` comments and blank statements."""
    statements: list[str] = []
    current: list[str] = []
    quote: str | None = None
    i = 0
    while i < len(script):
        ch = script[i]
        if quote is not None:
            current.append(ch)
            if ch == quote:
                quote = None
        elif ch in "'\"`":
            quote = ch
            current.append(ch)
        elif ch == "-" and script.startswith("--", i):
            end = script.find("\n", i)
            i = len(script) if end < 0 else end
            continue
        elif ch == ";":
            statements.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
        i += 1
    statements.append("".join(current).strip())
    return [s for s in statements if s]


def _not_ready(target: DatabaseTarget, dialect: str, pending: list[Migration]) -> ConfigurationError:
    folder = migrations_dir(dialect)
    versions = ", ".join(m.version for m in pending)
    error = ConfigurationError(
        f"The {target.describe()} does not have the Edda schema: migration(s) {versions} are not applied, and "
        f"auto_migrate=False. Apply the dbmate-compatible files in {folder} first, for example "
        f"`dbmate --no-dump-schema --migrations-dir '{folder}' up` with DATABASE_URL set, or run their "
        f"'-- migrate:up' sections with your SQL client and insert each version into schema_migrations(version). "
        f"Or pass auto_migrate=True to let initialize() apply them."
    )
    error.pending_migrations = tuple(m.version for m in pending)  # type: ignore[attr-defined]  # for `edda migrate`
    return error


def _log_applied(target: DatabaseTarget, migration: Migration) -> None:
    logger.info(
        "Applied Edda schema migration %s (%s) to the %s", migration.version, migration.path.name, target.describe()
    )


# -- SQLite: on the writer's sqlite3 connection, in its thread ------------------------------------------------------


def migrate_sqlite(conn: sqlite3.Connection, target: DatabaseTarget, *, auto_migrate: bool) -> list[str]:
    """Apply the pending SQLite migrations inside ``BEGIN IMMEDIATE``; returns the versions applied."""
    migrations = load_migrations("sqlite")
    pending = _pending(migrations, _sqlite_applied(conn))
    if not pending:
        return []
    if not auto_migrate:
        raise _not_ready(target, "sqlite", pending)
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(_CREATE_TABLE)
        pending = _pending(migrations, _sqlite_applied(conn))
        for migration in pending:
            for statement in migration.up:
                conn.execute(statement)
            conn.execute("INSERT INTO schema_migrations (version) VALUES (?)", (migration.version,))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    for migration in pending:
        _log_applied(target, migration)
    return [m.version for m in pending]


def _sqlite_applied(conn: sqlite3.Connection) -> set[str]:
    exists = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").fetchone()
    if exists is None:
        return set()
    return {str(row[0]) for row in conn.execute("SELECT version FROM schema_migrations")}


def _pending(migrations: tuple[Migration, ...], applied: set[str]) -> list[Migration]:
    return [m for m in migrations if m.version not in applied]


# -- PostgreSQL: raw asyncpg connection ------------------------------------------------------------------------------


async def migrate_postgresql(conn: Any, target: DatabaseTarget, *, auto_migrate: bool) -> list[str]:
    """Apply the pending PostgreSQL migrations in one transaction under an advisory lock; returns the versions."""
    migrations = load_migrations("postgresql")
    pending = _pending(migrations, await _pg_applied(conn))
    if not pending:
        return []
    if not auto_migrate:
        raise _not_ready(target, "postgresql", pending)
    async with conn.transaction():
        await conn.fetchval("SELECT pg_advisory_xact_lock($1)", _PG_LOCK_KEY)  # others queue here until we commit
        await conn.execute(_CREATE_TABLE)
        pending = _pending(migrations, await _pg_applied(conn))
        for migration in pending:
            for statement in migration.up:
                await conn.execute(statement)
            await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", migration.version)
    for migration in pending:
        _log_applied(target, migration)
    return [m.version for m in pending]


async def _pg_applied(conn: Any) -> set[str]:
    if not await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL"):
        return set()
    return {str(row[0]) for row in await conn.fetch("SELECT version FROM schema_migrations")}


# -- MySQL / MariaDB: raw aiomysql connection -------------------------------------------------------------------------


async def migrate_mysql(conn: Any, target: DatabaseTarget, *, auto_migrate: bool) -> list[str]:
    """Apply the pending MySQL migrations holding ``GET_LOCK``; returns the versions applied."""
    migrations = load_migrations("mysql")
    async with conn.cursor() as cur:
        pending = _pending(migrations, await _mysql_applied(cur))
        await conn.commit()
        if not pending:
            return []
        if not auto_migrate:
            raise _not_ready(target, "mysql", pending)
        # GET_LOCK names are server-wide: include the database so tests and tenants on one server do not queue.
        name = "edda_migrate:" + hashlib.sha256(str(target.url.database).encode()).hexdigest()[:40]
        await cur.execute("SELECT GET_LOCK(%s, %s)", (name, _MYSQL_LOCK_TIMEOUT_S))
        got = (await cur.fetchone())[0]
        if got != 1:
            raise StorageUnavailableError(
                f"Another worker has been migrating the {target.describe()} for over {_MYSQL_LOCK_TIMEOUT_S} s "
                f"(MySQL lock {name!r} is held); try again once it finishes."
            )
        try:
            await conn.commit()  # start a fresh snapshot now that we hold the lock
            applied = await _mysql_applied(cur)
            pending = _pending(migrations, applied)
            if pending and not applied:  # (IF NOT EXISTS on an existing table makes MySQL warn)
                await cur.execute(_CREATE_TABLE)
            for migration in pending:
                for statement in migration.up:
                    await cur.execute(statement)
                await cur.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (migration.version,))
                await conn.commit()
                _log_applied(target, migration)
        finally:
            try:
                await cur.execute("SELECT RELEASE_LOCK(%s)", (name,))
                await cur.fetchall()
                await conn.commit()
            except Exception:  # connection lost: the server released the lock with the session
                logger.debug("could not release the MySQL migration lock explicitly", exc_info=True)
    return [m.version for m in pending]


async def _mysql_applied(cur: Any) -> set[str]:
    await cur.execute(
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() "
        "AND table_name = 'schema_migrations'"
    )
    if not (await cur.fetchone())[0]:
        return set()
    await cur.execute("SELECT version FROM schema_migrations")
    return {str(row[0]) for row in await cur.fetchall()}
