"""Database URLs: which dialect and async driver a URL means, and how to name it without leaking a password.

Users write the URLs they know (``sqlite:///app.db``, ``postgresql://user@host/db``, ``mysql://...``); SQLAlchemy's
asyncio engine needs the async driver spelled out, so bare schemes get the driver this package is built and tested
with. A URL that already names a driver keeps it, as long as it is one of those drivers.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.util import find_spec
from typing import Literal

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from edda.exceptions import ConfigurationError

__all__ = ["DatabaseTarget", "DialectName", "parse_database_url", "require_driver"]

DialectName = Literal["sqlite", "postgresql", "mysql"]

# scheme -> (dialect, default async driver, install extra)
_SCHEMES: dict[str, tuple[DialectName, str, str]] = {
    "sqlite": ("sqlite", "aiosqlite", "sqlite"),
    "postgresql": ("postgresql", "asyncpg", "postgresql"),
    "postgres": ("postgresql", "asyncpg", "postgresql"),
    "mysql": ("mysql", "aiomysql", "mysql"),
    "mariadb": ("mysql", "aiomysql", "mysql"),
}
# async driver -> the modules it needs (aiomysql runs on PyMySQL)
_DRIVER_MODULES: dict[str, tuple[str, ...]] = {
    "aiosqlite": ("aiosqlite",),
    "asyncpg": ("asyncpg",),
    "aiomysql": ("aiomysql", "pymysql"),
}
_DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306}
_LABELS = {"sqlite": "SQLite", "postgresql": "PostgreSQL", "mysql": "MySQL/MariaDB"}


@dataclass(frozen=True)
class DatabaseTarget:
    """A parsed, normalized database URL.

    Attributes:
        url: the SQLAlchemy URL with its async driver (holds the password: never print it).
        dialect: ``sqlite``, ``postgresql`` or ``mysql`` (MariaDB included).
        sqlite_path: the database file for SQLite, ``None`` for an in-memory SQLite database or a server dialect.
    """

    url: URL
    dialect: DialectName
    sqlite_path: str | None = None

    @property
    def in_memory(self) -> bool:
        return self.dialect == "sqlite" and self.sqlite_path is None

    @property
    def host(self) -> str:
        return self.url.host or "localhost"

    @property
    def port(self) -> int | None:
        return self.url.port or _DEFAULT_PORTS.get(self.dialect)

    def describe(self) -> str:
        """Dialect and location, safe for messages and logs (no user name, no password, no query string)."""
        label = _LABELS[self.dialect]
        if self.dialect == "sqlite":
            return f"{label} database {self.sqlite_path!r}" if self.sqlite_path else f"in-memory {label} database"
        name = f" {self.url.database!r}" if self.url.database else ""
        return f"{label} database{name} at {self.host}:{self.port}"


def parse_database_url(url: str | URL) -> DatabaseTarget:
    """Normalize ``url`` to an async driver and classify it.

    Args:
        url: a database URL such as ``sqlite:///app.db``, ``postgresql://user@host:5432/db`` or
            ``mysql+aiomysql://user@host/db``.

    Returns:
        The parsed target.

    Raises:
        ConfigurationError: the URL cannot be parsed, or names a scheme or driver this package does not support. The
            message never contains the URL itself (it may hold a password).
        ModuleNotFoundError: the driver is not installed; the message names the ``pip install`` extra that brings it.
    """
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError, TypeError):
        raise ConfigurationError(
            "The database URL could not be parsed. Expected a URL such as 'sqlite:///workflow.db', "
            "'postgresql://user:password@host:5432/dbname' or 'mysql://user:password@host:3306/dbname'."
        ) from None
    backend = parsed.get_backend_name().lower()
    if backend not in _SCHEMES:
        raise ConfigurationError(
            f"edda-storage-sql does not handle database URL scheme {backend!r}. "
            f"Supported schemes: {', '.join(sorted(_SCHEMES))}."
        )
    dialect, default_driver, extra = _SCHEMES[backend]
    driver = parsed.get_driver_name().lower() if "+" in parsed.drivername else default_driver
    if driver != default_driver:
        raise ConfigurationError(
            f"edda-storage-sql runs {_LABELS[dialect]} with the async driver {default_driver!r}, not {driver!r}. "
            f"Write the URL as '{backend}://...' or '{backend}+{default_driver}://...' and install it with: "
            f'pip install "edda-storage-sql[{extra}]"'
        )
    # Bare schemes get the canonical SQLAlchemy name; an explicit ``mariadb+aiomysql`` is kept (SQLAlchemy knows it).
    # ``postgres`` is not a SQLAlchemy dialect name, so it always becomes ``postgresql``.
    require_driver(dialect, driver, extra)
    explicit = "+" in parsed.drivername
    name = backend if explicit and backend != "postgres" else dialect
    normalized = parsed.set(drivername=f"{name}+{driver}")
    if dialect != "sqlite":
        if not parsed.database:
            raise ConfigurationError(
                f"The {_LABELS[dialect]} URL names no database; add it after the host, e.g. "
                f"'{backend}://user@host:{_DEFAULT_PORTS[dialect]}/dbname'."
            )
        return DatabaseTarget(url=normalized, dialect=dialect)
    database = parsed.database or ""
    if database in ("", ":memory:") or parsed.query.get("mode") == "memory":
        return DatabaseTarget(url=normalized, dialect="sqlite", sqlite_path=None)
    return DatabaseTarget(url=normalized, dialect="sqlite", sqlite_path=database)


def require_driver(dialect: DialectName, driver: str, extra: str) -> None:
    """Check, without importing it, that ``driver`` (and what it runs on) is installed.

    Without this, the first sign of a missing extra is a ``ModuleNotFoundError`` raised from inside SQLAlchemy when
    the engine is created, which does not say what to install.

    Raises:
        ModuleNotFoundError: a module is missing; the message names the ``pip install`` line that provides it.
    """
    for module in _DRIVER_MODULES[driver]:
        try:
            found = find_spec(module) is not None
        except (ImportError, ValueError):  # a broken or half-installed package
            found = False
        if not found:
            raise ModuleNotFoundError(
                f"{_LABELS[dialect]} storage needs the async driver {driver!r}, and the module {module!r} is not "
                f'installed. Install it with: pip install "edda-storage-sql[{extra}]"',
                name=module,
            )
