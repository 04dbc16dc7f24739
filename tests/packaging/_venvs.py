"""Build the workspace's wheels and install them into throwaway virtual environments, the way users get them.

Everything (wheels, environments, pip's and uv's caches) lives under pytest's tmp directories: nothing is cached
elsewhere between runs.
"""

from __future__ import annotations

import email.parser
import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = sorted(p.parent for p in (ROOT / "packages").glob("*/pyproject.toml"))
FIRST_PARTY = frozenset(tomllib.loads((p / "pyproject.toml").read_text())["project"]["name"] for p in PACKAGES)
VERSION = tomllib.loads((ROOT / "packages" / "edda-core" / "pyproject.toml").read_text())["project"]["version"]

# Run in a venv's interpreter with a database URL as its argument: starts a two-activity workflow, waits for its
# result and prints what the checks need as JSON.
WORKFLOW_SCRIPT = """
import asyncio
import json
import sys

import edda
from edda import EddaApp, WorkflowContext, activity, workflow


@activity
async def double(ctx: WorkflowContext, value: int) -> dict:
    return {"doubled": value * 2}


@workflow
async def packaging_check(ctx: WorkflowContext, value: int) -> dict:
    first = await double(ctx, value)
    second = await double(ctx, first["doubled"])
    return {"value": value, "result": second["doubled"]}


async def main(url: str) -> None:
    async with EddaApp(service_name="packaging-check", db_url=url) as app:
        instance_id = await packaging_check.start(value=21)
        result = await app.wait_for_result(instance_id, timeout=60)
        instance = await app.storage.get_instance(instance_id)
        print(json.dumps({
            "version": edda.__version__,
            "result": result,
            "status": str(instance["status"]),
            "storage": type(app.storage).__module__,
        }))


asyncio.run(main(sys.argv[1]))
"""


def clean_env(cache_dir: Path) -> dict[str, str]:
    """The environment for pip, uv and venv interpreters: this run's caches, no trace of the workspace's venv."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "UV_PYTHON")}
    env.update(
        PIP_CACHE_DIR=str(cache_dir / "pip"),
        UV_CACHE_DIR=str(cache_dir / "uv"),
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_INPUT="1",
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def run(args: Sequence[str | os.PathLike[str]], *, env: dict[str, str], cwd: Path, timeout: float = 300) -> str:
    """Run a command; on failure raise with its output (pip's reasons are the useful part)."""
    proc = subprocess.run(
        [os.fspath(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def uv_executable() -> str | None:
    """The uv running this session (``uv run`` sets ``UV``), else the one on PATH."""
    return os.environ.get("UV") or shutil.which("uv")


def build_wheels(out: Path, *, env: dict[str, str]) -> dict[str, Path]:
    """``uv build --all-packages`` (sdists, then wheels from them) into ``out``; returns {dist name: wheel}."""
    uv = uv_executable()
    assert uv is not None, "uv builds the wheels: install it (https://docs.astral.sh/uv/) or run under `uv run`"
    run([uv, "build", "--all-packages", "--out-dir", out], env=env, cwd=ROOT)
    wheels: dict[str, Path] = {canonicalize_name(w.name.split("-")[0]): w for w in out.glob("*.whl")}
    assert set(wheels) == FIRST_PARTY, f"built {sorted(wheels)}, expected {sorted(FIRST_PARTY)}"
    return wheels


def wheel_requirements(wheel: Path) -> list[Requirement]:
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = email.parser.Parser().parsestr(zf.read(name).decode())
    return [Requirement(r) for r in metadata.get_all("Requires-Dist") or []]


def third_party_closure(wheels: dict[str, Path], name: str, extras: Iterable[str] = ()) -> list[str]:
    """Third-party requirements (markers evaluated, extras applied) of first-party ``name[extras]`` and of the
    first-party packages it pulls in, as requirement strings for pip."""
    found: list[str] = []
    seen: set[tuple[str, str]] = set()
    todo = [(canonicalize_name(name), e) for e in ("", *extras)]
    while todo:
        dist, extra = todo.pop()
        if (dist, extra) in seen:
            continue
        seen.add((dist, extra))
        for req in wheel_requirements(wheels[dist]):
            if req.marker is not None and not req.marker.evaluate({"extra": extra}):
                continue
            if extra and req.marker is None:
                continue  # a base requirement, handled with extra ""
            if canonicalize_name(req.name) in FIRST_PARTY:
                todo += [(canonicalize_name(req.name), e) for e in ("", *req.extras)]
            else:
                req.marker = None
                found.append(str(req))
    return sorted(set(found))


@dataclass(frozen=True)
class Venv:
    """A fresh virtual environment made by the standard library's ``venv``.

    Only one environment per test module gets pip of its own (ensurepip takes seconds); the others are made
    ``--without-pip`` and managed by that pip through ``pip --python``, which runs the same pip inside them.
    """

    path: Path
    env: dict[str, str]
    pip_python: Path  # the interpreter whose pip manages this environment

    @classmethod
    def with_pip(cls, path: Path, *, env: dict[str, str]) -> Venv:
        run([sys.executable, "-m", "venv", path], env=env, cwd=path.parent)
        return cls(path, env, path / "bin" / "python")

    @classmethod
    def without_pip(cls, path: Path, *, env: dict[str, str], pip: Venv) -> Venv:
        run([sys.executable, "-m", "venv", "--without-pip", path], env=env, cwd=path.parent)
        return cls(path, env, pip.python)

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    def pip(self, *args: str | os.PathLike[str]) -> str:
        return run([self.pip_python, "-m", "pip", "--python", self.python, *args], env=self.env, cwd=self.path)

    def install(self, *args: str | os.PathLike[str]) -> str:
        """``pip install`` without byte-compiling (faster; Python compiles what it imports anyway)."""
        return self.pip("install", "--no-compile", *args)

    def python_c(self, code: str) -> str:
        return run([self.python, "-c", code], env=self.env, cwd=self.path).strip()

    def installed(self) -> dict[str, str]:
        """{canonical dist name: version} of what is installed."""
        listing = json.loads(self.pip("list", "--format", "json"))
        return {canonicalize_name(d["name"]): d["version"] for d in listing}

    def run_workflow(self, db_url: str) -> dict[str, Any]:
        script = self.path / "packaging_check.py"
        script.write_text(WORKFLOW_SCRIPT)
        return json.loads(run([self.python, script, db_url], env=self.env, cwd=self.path, timeout=120))
