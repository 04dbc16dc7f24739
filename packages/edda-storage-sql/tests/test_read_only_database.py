"""A database that answers reads but refuses writes: the worker backs off quietly, callers get
``StorageUnavailableError``, and every workflow completes once writes are accepted again (issue 14, finding 3).

Each backend is made to refuse writes for real, on a database of this test's own:

* PostgreSQL: ``ALTER DATABASE <it> SET default_transaction_read_only = on``, then its sessions are terminated (as a
  failover does), so every new session is read-only; writes fail with SQLSTATE 25006. Allowing writes again is only
  ``... = off``: the sessions the app opened meanwhile stay read-only, so the app must drop them itself.
* MySQL/MariaDB: ``SET GLOBAL read_only`` would hit every other test on the server (and root bypasses it), so the
  storage's own connections run ``SET SESSION TRANSACTION READ ONLY`` from a connect hook, and its pool is emptied;
  writes fail with error 1792. The hook is removed to allow writes; the read-only sessions left must be dropped by
  the app.
* SQLite: the database lives on a small tmpfs, which is filled up with a file (SQLITE_FULL); the file is deleted to
  allow writes. Mounting needs root (CI runs as root); elsewhere that case skips and says so.

During three seconds of refused writes, while timers come due, the process may spend at most 0.5 CPU-seconds and log
a handful of lines (before the fix: hundreds of tracebacks, the recovery loop spinning on the due timers).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import shutil
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text

from edda import EddaApp, WorkflowContext, activity, sleep, workflow
from edda.exceptions import StorageUnavailableError
from edda_storage_sql import SQLAlchemyStorage

from .conftest import _mysql_execute, _pg_execute, fresh_database, server_url

REFUSED_SECONDS = 3.0
MAX_CPU_SECONDS = 0.5
MAX_LOG_LINES = 12

Switch = Callable[[], Awaitable[None]]


GATES: dict[str, asyncio.Event] = {}  # "entered", "go": instance 0's activity is running when writes are refused


@activity
async def doubled(ctx: WorkflowContext, n: int) -> int:
    if n == 0 and not GATES["go"].is_set():
        GATES["entered"].set()
        await GATES["go"].wait()
    # An activity transaction (ctx.session): its commit is refused too while the database refuses writes.
    return int((await ctx.session.execute(text("SELECT :n * 2"), {"n": n})).scalar_one())


@workflow
async def read_only_nap(ctx: WorkflowContext, n: int) -> int:
    if n > 0:
        await sleep(ctx, 0.3)  # comes due while writes are refused
    return await doubled(ctx, n)


async def _all_waiting(app: EddaApp, ids: list[str]) -> None:
    await asyncio.wait_for(GATES["entered"].wait(), 30)
    deadline = time.monotonic() + 30
    while True:
        statuses = [(await app.get_instance(i)).status for i in ids[1:]]  # type: ignore[union-attr]
        if statuses == ["waiting_for_timer"] * len(ids[1:]):
            return
        assert time.monotonic() < deadline, statuses
        await asyncio.sleep(0.02)


async def _scenario(url: str, refuse: Callable[[EddaApp], Awaitable[None]], allow: Switch, caplog: Any) -> None:
    caplog.set_level(logging.INFO)
    GATES.update(entered=asyncio.Event(), go=asyncio.Event())
    app = EddaApp(service_name="read-only", db_url=url, recovery_interval=0.05)
    await app.initialize()
    try:
        ids = [await read_only_nap.start(n=n) for n in range(5)]
        await _all_waiting(app, ids)
        await refuse(app)
        first = len(caplog.records)
        GATES["go"].set()  # instance 0's activity goes on, and its commit is refused
        cpu = time.process_time()
        await asyncio.sleep(REFUSED_SECONDS)
        cpu = time.process_time() - cpu
        lines = [r for r in caplog.records[first:] if r.levelno >= logging.WARNING]
        shown = "\n".join(f"{r.name} {r.levelname} {r.getMessage()[:160]}" for r in lines[:20])
        assert 1 <= len(lines) <= MAX_LOG_LINES, f"{len(lines)} lines:\n{shown}"
        assert cpu < MAX_CPU_SECONDS, f"{cpu:.2f} CPU-seconds in {REFUSED_SECONDS} s of refused writes"
        # (SQLAlchemy's pool may log, with its traceback, a connection the failover ended while pooled: once each.)
        assert not [r for r in lines if r.exc_info and r.name.startswith("edda")], f"tracebacks logged:\n{shown}"
        assert any("refuses writes" in r.getMessage() for r in lines), shown
        with pytest.raises(StorageUnavailableError, match="refuses writes"):
            await read_only_nap.start(n=99)  # not a raw driver error
        await allow()
        results = [await app.wait_for_result(i, timeout=60) for i in ids]
        assert results == [0, 2, 4, 6, 8]
        assert any("works again" in r.getMessage() for r in caplog.records[first:])
    finally:
        await app.shutdown()


@pytest.mark.postgres
async def test_read_only_postgresql(caplog: pytest.LogCaptureFixture) -> None:
    base = server_url("postgresql")
    with fresh_database("postgresql") as url:
        name = url.rsplit("/", 1)[1]

        async def refuse(app: EddaApp) -> None:
            await _pg_execute(
                base,
                f'ALTER DATABASE "{name}" SET default_transaction_read_only = on',
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                f"WHERE datname = '{name}' AND pid <> pg_backend_pid()",
            )

        async def allow() -> None:
            await _pg_execute(base, f'ALTER DATABASE "{name}" SET default_transaction_read_only = off')

        await _scenario(url, refuse, allow, caplog)


@pytest.mark.mysql
async def test_read_only_mysql_sessions(caplog: pytest.LogCaptureFixture) -> None:
    hooked: list[Any] = []

    def read_only_session(dbapi_connection: Any, record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("SET SESSION TRANSACTION READ ONLY")
        cursor.close()

    with fresh_database("mysql") as url:
        name = url.rsplit("/", 1)[1]

        async def refuse(app: EddaApp) -> None:
            storage = app.storage
            assert isinstance(storage, SQLAlchemyStorage)
            event.listen(storage.engine.sync_engine, "connect", read_only_session)
            hooked.append(storage.engine.sync_engine)
            # End the sessions opened so far (as a failover does): every new one is read-only.
            sessions = _mysql_query(f"SELECT id FROM information_schema.processlist WHERE db = '{name}'")
            _mysql_execute(server_url("mysql"), *(f"KILL {row[0]}" for row in sessions))

        async def allow() -> None:
            event.remove(hooked[0], "connect", read_only_session)

        await _scenario(url, refuse, allow, caplog)


def _mysql_query(sql: str) -> list[tuple[Any, ...]]:
    import pymysql

    url = server_url("mysql")
    conn = pymysql.connect(
        host=url.host or "127.0.0.1", port=url.port or 3306, user=url.username or "root", password=url.password or ""
    )
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall())
    finally:
        conn.close()


@contextlib.contextmanager
def _small_tmpfs(where: Path) -> Any:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("the full-disk SQLite test mounts a small tmpfs, which needs root (CI runs as root)")
    where.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(where)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.decode(errors='replace').strip()})")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _fill(directory: Path) -> Path:
    filler = directory / "filler"
    chunk = b"\0" * 65536
    with filler.open("wb", buffering=0) as f:
        while True:
            try:
                f.write(chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                return filler


async def test_sqlite_on_a_full_disk(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with _small_tmpfs(tmp_path / "disk") as disk:
        fillers: list[Path] = []

        async def refuse(app: EddaApp) -> None:
            fillers.append(_fill(disk))

        async def allow() -> None:
            fillers.pop().unlink()

        await _scenario(f"sqlite:///{disk / 'edda.db'}", refuse, allow, caplog)
