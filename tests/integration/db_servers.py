"""Restarting the machine's database servers in chaos tests, and checking that they really restarted.

PostgreSQL is restarted with ``pg_ctlcluster --skip-systemctl-redirect VERSION CLUSTER restart`` (the local Debian
cluster on the URL's port); MariaDB is stopped gracefully with ``start-stop-daemon --stop`` (SIGTERM, then waiting
for it to exit) and started again the way it was started, ``start-stop-daemon --start --background --exec
/usr/sbin/mariadbd``. Either only when this process may: running as root, the tools present, the server local (the
URL's host is a loopback address) and running. :meth:`Server.why_not` says what is missing otherwise.

The servers are shared with whatever else runs on the machine, so a restart always ends with the server started
again (``finally``), and :meth:`Server.ensure_running` starts it if it is down for any reason.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

LOOPBACK = ("127.0.0.1", "localhost", "::1")
MARIADBD = "/usr/sbin/mariadbd"
UP_TIMEOUT = 90.0


@dataclass(frozen=True)
class Restart:
    """One restart: how long the command took, and the server's start time (epoch seconds) before and after."""

    seconds: float
    started_before: float
    started_after: float

    @property
    def happened(self) -> bool:
        return self.started_after > self.started_before


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(command), capture_output=True, text=True, timeout=180, check=False)


class Server:
    """A database server of the machine that a chaos test may restart."""

    kind = ""

    def __init__(self, base_url: str) -> None:
        self.parts = urlsplit(base_url)

    def _common_obstacle(self, tools: tuple[str, ...]) -> str | None:
        if os.geteuid() != 0:
            return f"this process is not root (uid {os.geteuid()}), and restarting a service needs root"
        missing = [tool for tool in tools if shutil.which(tool) is None]
        if missing:
            return f"{', '.join(missing)} not found on PATH"
        if (self.parts.hostname or "") not in LOOPBACK:
            return f"the server is on {self.parts.hostname}, not on this machine"
        return None

    async def why_not(self) -> str | None:
        """Why this test process cannot restart the server, or ``None`` if it can."""
        raise NotImplementedError

    async def started_at(self) -> float:
        """When the server started (epoch seconds), as the server reports it."""
        raise NotImplementedError

    def _restart(self) -> None:
        raise NotImplementedError

    def _start(self) -> None:
        raise NotImplementedError

    async def accepts_connections(self) -> bool:
        raise NotImplementedError

    async def execute(self, sql: str) -> object:
        """Run ``sql`` on a new connection to the URL's database (an administrative statement)."""
        raise NotImplementedError

    async def wait_until_up(self, timeout: float = UP_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while not await self.accepts_connections():
            if time.monotonic() > deadline:
                raise AssertionError(f"the {self.kind} server did not accept connections within {timeout:.0f} s")
            await asyncio.sleep(0.2)

    async def restart(self) -> Restart:
        """Restart the server, wait until it accepts connections, and report when it started before and after."""
        before = await self.started_at()
        began = time.monotonic()
        try:
            await asyncio.to_thread(self._restart)  # stops and starts again; raises if a command failed
            await self.wait_until_up()
        finally:
            await self.ensure_running()
        seconds = time.monotonic() - began
        return Restart(seconds, before, await self.started_at())

    def _running(self) -> bool:
        """Whether a server process runs (perhaps still starting)."""
        raise NotImplementedError

    async def ensure_running(self) -> None:
        """Start the server if no server process runs (after a failed restart, say); wait until it accepts
        connections. A server that is still starting is only waited for: never a second one started beside it."""
        if await self.accepts_connections():
            return
        if not await asyncio.to_thread(self._running):
            await asyncio.to_thread(self._start)
        await self.wait_until_up()


class PostgresServer(Server):
    kind = "postgresql"

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url)
        self.cluster: tuple[str, str] | None = None

    async def why_not(self) -> str | None:
        obstacle = self._common_obstacle(("pg_ctlcluster", "pg_lsclusters"))
        if obstacle:
            return obstacle
        port = str(self.parts.port or 5432)
        for line in _run("pg_lsclusters", "--no-header").stdout.splitlines():
            fields = line.split()
            if len(fields) >= 4 and fields[2] == port and fields[3] == "online":
                if (Path("/etc/postgresql") / fields[0] / fields[1]).is_dir():
                    self.cluster = (fields[0], fields[1])
                    return None
        return f"pg_lsclusters lists no online local cluster on port {port}"

    async def _connect(self) -> object:
        import asyncpg

        p = self.parts
        return await asyncpg.connect(
            host=p.hostname or "127.0.0.1",
            port=p.port or 5432,
            user=p.username,
            password=p.password,
            database=(p.path or "/postgres")[1:] or "postgres",
            timeout=5,
        )

    async def execute(self, sql: str) -> object:
        conn = await self._connect()
        try:
            return await conn.fetchval(sql)  # type: ignore[attr-defined]
        finally:
            await conn.close()  # type: ignore[attr-defined]

    async def started_at(self) -> float:
        return float(await self.execute("SELECT extract(epoch FROM pg_postmaster_start_time())"))  # type: ignore[arg-type]

    async def accepts_connections(self) -> bool:
        try:
            await self.execute("SELECT 1")
        except Exception:
            return False
        return True

    def _ctl(self, action: str) -> None:
        assert self.cluster is not None, "why_not() finds the cluster first"
        done = _run("pg_ctlcluster", "--skip-systemctl-redirect", *self.cluster, action)
        if done.returncode != 0:
            raise AssertionError(f"pg_ctlcluster {action} failed ({done.returncode}): {done.stderr.strip()[-500:]}")

    def _restart(self) -> None:
        self._ctl("restart")

    def _running(self) -> bool:
        assert self.cluster is not None, "why_not() finds the cluster first"
        return _run("pg_ctlcluster", "--skip-systemctl-redirect", *self.cluster, "status").returncode == 0

    def _start(self) -> None:
        self._ctl("start")


class MariaDBServer(Server):
    kind = "mysql"

    async def why_not(self) -> str | None:
        obstacle = self._common_obstacle(("start-stop-daemon",)) or self._process_obstacle()
        if obstacle:
            return obstacle
        try:
            version, port = await self.fetch("SELECT VERSION(), @@port")
        except Exception as exc:
            return f"cannot ask the server its version and port ({type(exc).__name__})"
        if "mariadb" not in str(version).lower() or int(port) != (self.parts.port or 3306):
            return f"the server on port {self.parts.port or 3306} is not this machine's MariaDB ({version}, {port})"
        return None

    def _process_obstacle(self) -> str | None:
        if not os.path.isfile(MARIADBD):
            return f"{MARIADBD} does not exist (the restart is written for a MariaDB server started from it)"
        if not self._pids():
            return f"no running process of {MARIADBD} (the server on the URL's port is something else)"
        return None

    def _pids(self) -> list[int]:
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if os.readlink(entry / "exe") == MARIADBD:
                        pids.append(int(entry.name))
                except OSError:
                    continue
        return pids

    async def fetch(self, sql: str) -> tuple[Any, ...]:
        import aiomysql

        p = self.parts
        conn = await aiomysql.connect(
            host=p.hostname or "127.0.0.1",
            port=p.port or 3306,
            user=p.username or "root",
            password=p.password or "",
            connect_timeout=5,
        )
        try:
            async with conn.cursor() as cur:
                await cur.execute(sql)
                return tuple(await cur.fetchone())
        finally:
            conn.close()

    async def execute(self, sql: str) -> None:
        import aiomysql

        p = self.parts
        conn = await aiomysql.connect(
            host=p.hostname or "127.0.0.1",
            port=p.port or 3306,
            user=p.username or "root",
            password=p.password or "",
            connect_timeout=5,
            autocommit=True,
        )
        try:
            async with conn.cursor() as cur:
                await cur.execute(sql)
        finally:
            conn.close()

    async def started_at(self) -> float:
        (started,) = await self.fetch(
            "SELECT UNIX_TIMESTAMP(NOW(6)) - VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS"
            " WHERE VARIABLE_NAME = 'UPTIME'"
        )
        return float(started)

    async def accepts_connections(self) -> bool:
        try:
            await self.fetch("SELECT 1")
        except Exception:
            return False
        return True

    def _restart(self) -> None:
        # Graceful: SIGTERM, then wait up to 60 s for the server to finish its shutdown; it is started in any case.
        stopped = _run("start-stop-daemon", "--stop", "--oknodo", "--retry", "TERM/60", "--exec", MARIADBD)
        try:
            if stopped.returncode != 0:
                raise AssertionError(f"stopping MariaDB failed ({stopped.returncode}): {stopped.stderr.strip()[-500:]}")
        finally:
            self._start()

    def _running(self) -> bool:
        return bool(self._pids())

    def _start(self) -> None:
        started = _run("start-stop-daemon", "--start", "--oknodo", "--background", "--exec", MARIADBD)
        if started.returncode != 0:
            raise AssertionError(f"starting MariaDB failed ({started.returncode}): {started.stderr.strip()[-500:]}")
        # start-stop-daemon returns before its child has become mariadbd: wait for that, so that _running() sees it
        # (and nobody starts a second server on the same data directory).
        deadline = time.monotonic() + 10
        while not self._pids() and time.monotonic() < deadline:
            time.sleep(0.05)


def server_for(kind: str, base_url: str) -> Server:
    return PostgresServer(base_url) if kind == "postgresql" else MariaDBServer(base_url)
