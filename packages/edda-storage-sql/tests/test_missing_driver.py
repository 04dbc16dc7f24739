"""A database driver extra that is not installed is named with its ``pip install`` line, not reported as a raw
``ModuleNotFoundError`` from inside SQLAlchemy. Each case runs in a child interpreter where the driver cannot be
imported (``sys.modules[name] = None``, what Python itself uses to block an import)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

CHILD = textwrap.dedent(
    """
    import asyncio, sys
    for blocked in sys.argv[2].split(","):
        sys.modules[blocked] = None
    from edda import EddaApp

    async def main():
        app = EddaApp(service_name="driver", db_url=sys.argv[1])
        try:
            await app.initialize()
        except ModuleNotFoundError as exc:
            print("NAME", exc.name)
            print("MESSAGE", exc)
            return
        await app.shutdown()
        print("OPENED")

    asyncio.run(main())
    """
)


def open_without(url: str, blocked: str, cwd: Path) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, url, blocked], capture_output=True, text=True, timeout=120, cwd=cwd
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.parametrize(
    ("url", "blocked", "extra"),
    [
        ("sqlite:///app.db", "aiosqlite", "sqlite"),
        ("sqlite+aiosqlite:///app.db", "aiosqlite", "sqlite"),
        ("postgresql://edda:s3cret@db.invalid:5432/app", "asyncpg", "postgresql"),
        ("postgres://edda:s3cret@db.invalid/app", "asyncpg", "postgresql"),
        ("mysql://edda:s3cret@db.invalid:3306/app", "aiomysql", "mysql"),
        ("mariadb://edda:s3cret@db.invalid/app", "pymysql", "mysql"),  # aiomysql runs on PyMySQL
    ],
)
def test_a_missing_driver_names_its_extra(tmp_path: Path, url: str, blocked: str, extra: str) -> None:
    out = open_without(url, blocked, tmp_path)
    assert f"NAME {blocked}" in out, out
    assert f'pip install "edda-storage-sql[{extra}]"' in out
    assert "s3cret" not in out and "db.invalid" not in out  # never the URL
    assert not (tmp_path / "app.db").exists()  # refused before anything was opened


def test_with_the_driver_present_the_same_child_opens_the_database(tmp_path: Path) -> None:
    assert "OPENED" in open_without("sqlite:///app.db", "not_a_driver_module", tmp_path)
