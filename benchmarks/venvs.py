"""Which interpreter runs which system, and the peers' private virtualenvs under ``benchmarks/.venvs/``.

Our Edda runs in the interpreter that runs the runner (the uv workspace). Each peer gets its own virtualenv,
created with ``uv venv`` + ``uv pip install`` and reused while its requirement list is unchanged. The FLOOR probe
uses the runner's interpreter when it has ``aiosqlite`` and ``asyncpg``, else a small ``drivers`` virtualenv.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
VENV_ROOT = BENCH_DIR / ".venvs"
_STAMP = ".bench-requirements"
_INSTALL_TIMEOUT_S = 900


@dataclass(frozen=True)
class Target:
    key: str
    module: str
    requirements: tuple[str, ...] = ()
    venv: str = ""
    is_peer: bool = False
    dbs: tuple[str, ...] = ("sqlite", "postgres", "mysql")  # the databases the system can use


SYSTEMS: dict[str, Target] = {
    "edda": Target(key="edda", module="benchmarks.edda_workloads"),
    "edda-framework": Target(
        key="edda-framework",
        module="benchmarks.peers.edda_framework_0162",
        # uvicorn serves its ASGI app in W3's HTTP variant, as it does ours
        requirements=("edda-framework[postgresql,mysql]==0.16.2", "uvicorn"),
        venv="edda-framework-0.16.2",
        is_peer=True,
    ),
    "dbos": Target(
        key="dbos",
        module="benchmarks.peers.dbos3",
        requirements=("dbos>=3,<4", "uvicorn"),
        venv="dbos3",
        is_peer=True,
        dbs=("sqlite", "postgres"),  # 3.x's system database: SQLite or PostgreSQL
    ),
}
PEERS = tuple(key for key, target in SYSTEMS.items() if target.is_peer)

FLOOR = Target(
    key="floor", module="benchmarks.floor", requirements=("aiosqlite", "asyncpg", "aiomysql"), venv="drivers"
)


def _uv_command() -> list[str]:
    uv = shutil.which("uv")
    if uv:
        return [uv]
    if importlib.util.find_spec("uv") is not None:
        return [sys.executable, "-m", "uv"]
    raise RuntimeError("uv is required to build the peers' virtualenvs: `pip install uv`")


def _venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def ensure_venv(target: Target, log: Callable[[str], None]) -> Path:
    """Return the interpreter of ``target``'s virtualenv, creating or refreshing it if needed."""
    venv = VENV_ROOT / target.venv
    python = _venv_python(venv)
    wanted = "\n".join(target.requirements) + "\n"
    stamp = venv / _STAMP
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    uv = _uv_command()
    log(f"preparing virtualenv .venvs/{target.venv}: {', '.join(target.requirements)}")
    VENV_ROOT.mkdir(parents=True, exist_ok=True)
    commands = [
        [*uv, "venv", "--quiet", "--clear", "--python", sys.executable, str(venv)],
        [*uv, "pip", "install", "--quiet", "--python", str(python), *target.requirements],
    ]
    for command in commands:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=_INSTALL_TIMEOUT_S, check=False)
        if completed.returncode != 0:
            raise RuntimeError(
                f"`{' '.join(command[len(uv) : len(uv) + 2])}` failed: {completed.stderr.strip()[-800:]}"
            )
    stamp.write_text(wanted)
    return python


def _has_modules(*names: str) -> bool:
    return all(importlib.util.find_spec(name) is not None for name in names)


def interpreter_for(target: Target, log: Callable[[str], None]) -> Path:
    """The Python that runs ``target``'s child module."""
    if target.is_peer:
        return ensure_venv(target, log)
    if target is FLOOR and not _has_modules("aiosqlite", "asyncpg", "aiomysql"):
        return ensure_venv(target, log)
    return Path(sys.executable)
