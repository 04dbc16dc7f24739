"""Fresh databases for every measured run (runner side).

Every run gets its own database: a SQLite file in a new temporary directory, or a new PostgreSQL database named
``bench_<random hex>`` created on the admin URL's server and dropped afterwards. URLs are never printed: errors go
through :func:`redact`.

PostgreSQL administration uses asyncpg when the runner's environment has it, otherwise the ``psql`` client. The
asyncpg connection reconnects when the server drops it (a restart by someone else's tests, say) and retries the
statement; ``psql`` connects per statement anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

PG_URL_ENV = "EDDA_BENCH_PG_URL"
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"

_NAME_RE = re.compile(r"^bench_[0-9a-f]{12}$")
_URL_RE = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s'\"]+", re.IGNORECASE)


def redact(text: str) -> str:
    """Replace anything that looks like a URL (``scheme://...``) by ``<url>``."""
    return _URL_RE.sub("<url>", text)


@dataclass(frozen=True)
class Provisioned:
    db: str
    url: str
    name: str  # the PostgreSQL database name, or the SQLite file path


class Backend(Protocol):
    async def fetchval(self, sql: str) -> Any: ...

    async def execute(self, sql: str) -> None: ...

    async def close(self) -> None: ...


_RECONNECT_ATTEMPTS = 30
_RECONNECT_PAUSE_S = 1.0


def _connection_lost_errors() -> tuple[type[BaseException], ...]:
    from asyncpg import exceptions

    return (
        exceptions.PostgresConnectionError,
        exceptions.InterfaceError,
        exceptions.AdminShutdownError,
        exceptions.CannotConnectNowError,
        exceptions.CrashShutdownError,
        ConnectionError,
        OSError,
    )


class _AsyncpgBackend:
    def __init__(self, url: str, conn: Any) -> None:
        self._url = url
        self._conn = conn

    @classmethod
    async def connect(cls, url: str) -> _AsyncpgBackend:
        import asyncpg

        return cls(url, await asyncpg.connect(url, timeout=10))

    async def _call(self, method: str, sql: str) -> Any:
        import asyncpg

        lost = _connection_lost_errors()
        for attempt in range(_RECONNECT_ATTEMPTS):
            try:
                if self._conn is None or self._conn.is_closed():
                    self._conn = await asyncpg.connect(self._url, timeout=10)
                return await getattr(self._conn, method)(sql)
            except lost:
                if attempt == _RECONNECT_ATTEMPTS - 1:
                    raise
                with contextlib.suppress(Exception):
                    if self._conn is not None:
                        self._conn.terminate()
                self._conn = None
                await asyncio.sleep(_RECONNECT_PAUSE_S)
        raise AssertionError("unreachable")

    async def fetchval(self, sql: str) -> Any:
        return await self._call("fetchval", sql)

    async def execute(self, sql: str) -> None:
        await self._call("execute", sql)

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()


class _PsqlBackend:
    def __init__(self, url: str, psql: str) -> None:
        self._url = url
        self._psql = psql

    async def _run(self, sql: str) -> str:
        proc = await asyncio.create_subprocess_exec(
            self._psql,
            "-X",
            "-q",
            "-At",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            self._url,
            "-c",
            sql,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "PGCONNECT_TIMEOUT": "10"},
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise
        if proc.returncode != 0:
            raise RuntimeError(f"psql failed: {redact(err.decode(errors='replace').strip())}")
        return out.decode().strip()

    async def fetchval(self, sql: str) -> Any:
        out = await self._run(sql)
        return out.splitlines()[0] if out else None

    async def execute(self, sql: str) -> None:
        await self._run(sql)

    async def close(self) -> None:
        return None


async def open_backend(url: str) -> tuple[Backend, str]:
    """A connection to ``url`` through asyncpg if the runner has it, else through ``psql``; and which one it is."""
    try:
        return await _AsyncpgBackend.connect(url), "asyncpg"
    except ImportError:
        psql = shutil.which("psql")
        if psql is None:
            raise RuntimeError("PostgreSQL admin needs asyncpg in the runner environment or psql on PATH") from None
        return _PsqlBackend(url, psql), "psql"
    except Exception as exc:
        raise RuntimeError(f"cannot reach PostgreSQL ({type(exc).__name__}: {redact(str(exc))})") from None


class PgAdmin:
    """Creates and drops ``bench_*`` databases on the admin URL's server; runs admin queries."""

    def __init__(self, admin_url: str, backend: Backend, kind: str) -> None:
        self._admin_url = admin_url
        self._backend = backend
        self.kind = kind

    @classmethod
    async def connect(cls, admin_url: str | None = None) -> PgAdmin:
        url = admin_url or os.environ.get(PG_URL_ENV) or DEFAULT_PG_URL
        backend, kind = await open_backend(url)
        try:
            await backend.fetchval("SELECT 1")
        except Exception as exc:
            raise RuntimeError(f"cannot query PostgreSQL ({type(exc).__name__}: {redact(str(exc))})") from None
        return cls(url, backend, kind)

    def url_for(self, name: str) -> str:
        parts = urlsplit(self._admin_url)
        return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))

    async def fetchval(self, sql: str) -> Any:
        return await self._backend.fetchval(sql)

    async def server_started(self) -> str:
        """When the server (postmaster) started: a change means it restarted in between."""
        return str(await self._backend.fetchval("SELECT pg_postmaster_start_time()::text"))

    async def create(self) -> Provisioned:
        name = "bench_" + secrets.token_hex(6)
        await self._backend.execute(f'CREATE DATABASE "{name}"')
        return Provisioned(db="postgres", url=self.url_for(name), name=name)

    async def drop(self, name: str) -> None:
        check_name(name)
        await self._backend.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    async def close(self) -> None:
        await self._backend.close()


def check_name(name: str) -> None:
    if not _NAME_RE.match(name):
        raise ValueError(f"refusing to touch database {name!r}: not a benchmark database")


class ServerAdmin(Protocol):
    """What :func:`fresh_database` needs of a server's admin connection (:class:`PgAdmin`, ``MyAdmin``)."""

    async def create(self) -> Provisioned: ...

    async def drop(self, name: str) -> None: ...


@contextlib.asynccontextmanager
async def fresh_database(db: str, pg: ServerAdmin | None, tmp_root: Path | None = None) -> AsyncIterator[Provisioned]:
    """Yield a brand-new database of kind ``db``; remove it afterwards whatever happens. ``pg`` is the admin of
    the database's server (PostgreSQL or MySQL); unused for SQLite."""
    if db == "sqlite":
        directory = Path(tempfile.mkdtemp(prefix="edda-bench-", dir=tmp_root))
        path = directory / "bench.db"
        try:
            yield Provisioned(db="sqlite", url="sqlite:///" + str(path), name=str(path))
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        return
    if pg is None:
        raise RuntimeError(f"{'MySQL' if db == 'mysql' else 'PostgreSQL'} is not available")
    provisioned = await pg.create()
    try:
        yield provisioned
    finally:
        await pg.drop(provisioned.name)


def filesystem_of(path: Path) -> str:
    """The filesystem type holding ``path`` (from /proc/mounts), e.g. ``ext4`` or ``tmpfs``; ``unknown`` elsewhere."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return "unknown"
    resolved = str(path.resolve())
    best, fstype = "", "unknown"
    for line in mounts:
        fields = line.split()
        mount = fields[1] if len(fields) >= 3 else ""
        inside = resolved == mount or resolved.startswith(mount.rstrip("/") + "/")
        if mount and inside and len(mount) > len(best):
            best, fstype = mount, fields[2]
    return fstype
