"""The built wheels install and work outside the workspace, and upgrade the published edda-framework 0.16.2.

Builds every workspace package with ``uv build``, makes fresh virtual environments with the standard library's
``venv`` (one pip serves them all through ``pip --python``), installs the first-party wheels from the build directory
only (``--no-index --find-links``; their third-party dependencies come from the package index first) and runs a tiny
workflow in each environment.

The upgrade tests install edda-framework 0.16.2 from the package index and upgrade it to these wheels. 0.16.2's
wheel ships the ``edda`` package that edda-core now ships, and pip installs edda-core before it removes the old
edda-framework, so a one-step ``pip install --upgrade`` deletes the files the two have in common (see
docs/migrating-from-0.16.md). The tests pin that finding, the documented two-step pip upgrade, the repair command,
and uv's one-step upgrade (uv removes old distributions before it installs new ones).

About a minute in all (six environments, installs from the network); caches live in pytest's tmp directory.
"""

from __future__ import annotations

import asyncio
import zipfile
from pathlib import Path

import pytest

from tests.integration.databases import temporary_database
from tests.packaging._venvs import (
    FIRST_PARTY,
    ROOT,
    VERSION,
    Venv,
    build_wheels,
    clean_env,
    run,
    third_party_closure,
    uv_executable,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600), pytest.mark.xdist_group("packaging")]  # one build

PUBLISHED = "0.16.2"
EXPECTED_RESULT = {"value": 21, "result": 84}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("packaging")


@pytest.fixture(scope="module")
def env(workdir: Path) -> dict[str, str]:
    return clean_env(workdir / "cache")


@pytest.fixture(scope="module")
def wheels(workdir: Path, env: dict[str, str]) -> dict[str, Path]:
    return build_wheels(workdir / "wheels", env=env)


@pytest.fixture(scope="module")
def wheel_dir(wheels: dict[str, Path]) -> Path:
    return next(iter(wheels.values())).parent


@pytest.fixture(scope="module")
def pip(workdir: Path, env: dict[str, str]) -> Venv:
    """The environment whose pip installs into all the others."""
    return Venv.with_pip(workdir / "venv-pip", env=env)


def install_from_wheels(venv: Venv, wheels: dict[str, Path], wheel_dir: Path, *extras: str) -> None:
    """``pip install "edda-framework[extras]"`` with every first-party package taken from ``wheel_dir`` alone."""
    venv.install(*third_party_closure(wheels, "edda-framework", extras))  # the package index, third-party only
    spec = f"edda-framework[{','.join(extras)}]" if extras else "edda-framework"
    venv.install("--no-index", "--find-links", wheel_dir, f"{spec}=={VERSION}")


# What `pip install edda-framework` installs; the integrations (viewer, MCP, ...) come with its extras only.
BASE = frozenset({"edda-framework", "edda-core", "edda-storage-sql", "edda-asgi", "edda-outbox"})


def assert_first_party_installed(venv: Venv) -> dict[str, str]:
    installed = venv.installed()
    assert {name: installed.get(name) for name in BASE} == dict.fromkeys(BASE, VERSION)
    assert not (FIRST_PARTY - BASE) & set(installed), "an integration was installed without its extra"
    return installed


def assert_runs_on_sqlite(venv: Venv, tmp_path: Path) -> None:
    out = venv.run_workflow(f"sqlite:///{tmp_path / 'workflow.db'}")
    assert out["result"] == EXPECTED_RESULT
    assert out["status"] == "completed"
    assert out["version"] == VERSION
    assert out["storage"].startswith("edda_storage_sql")


# -- fresh installs ---------------------------------------------------------------------------------------------


def test_pip_install_edda_framework_gives_a_working_sqlite_setup(
    tmp_path: Path, env: dict[str, str], pip: Venv, wheels: dict[str, Path], wheel_dir: Path
) -> None:
    venv = Venv.without_pip(tmp_path / "venv", env=env, pip=pip)
    install_from_wheels(venv, wheels, wheel_dir)
    installed = assert_first_party_installed(venv)
    assert "aiosqlite" in installed
    assert "asyncpg" not in installed and "aiomysql" not in installed
    venv.pip("check")
    assert venv.python_c("import edda; print(edda.__version__)") == VERSION
    # the seed's import paths whose code lives in the sibling packages edda-framework installs
    venv.python_c(
        "import edda_asgi, edda_outbox\n"
        "from edda.wsgi import create_wsgi_app\n"
        "from edda.storage.sqlalchemy_storage import SQLAlchemyStorage"
    )
    assert_runs_on_sqlite(venv, tmp_path)


@pytest.fixture(scope="module")
def postgresql_venv(workdir: Path, env: dict[str, str], pip: Venv, wheels: dict[str, Path], wheel_dir: Path) -> Venv:
    venv = Venv.without_pip(workdir / "venv-postgresql", env=env, pip=pip)
    install_from_wheels(venv, wheels, wheel_dir, "postgresql")
    return venv


def test_the_postgresql_extra_installs_asyncpg(postgresql_venv: Venv) -> None:
    installed = assert_first_party_installed(postgresql_venv)
    assert "asyncpg" in installed and "aiosqlite" in installed
    assert "aiomysql" not in installed
    postgresql_venv.pip("check")
    postgresql_venv.python_c("import asyncpg")


async def test_the_postgresql_extra_runs_a_workflow_on_postgresql(postgresql_venv: Venv, tmp_path: Path) -> None:
    async with temporary_database("postgresql", tmp_path) as url:
        out = await asyncio.to_thread(postgresql_venv.run_workflow, url)
    assert out["result"] == EXPECTED_RESULT
    assert out["version"] == VERSION
    assert out["storage"].startswith("edda_storage_sql")


# -- upgrading the published 0.16.2 -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def published(workdir: Path, pip: Venv) -> Path:
    """A directory holding edda-framework 0.16.2 and its dependencies, downloaded from the package index."""
    downloads = workdir / "published"
    try:
        pip.pip("download", "--dest", downloads, f"edda-framework=={PUBLISHED}")
    except AssertionError as exc:
        pytest.skip(
            f"cannot download edda-framework {PUBLISHED} from the package index (is PyPI reachable?); "
            f"pip said: {str(exc).strip().splitlines()[-1]}"
        )
    return downloads


def install_published(tmp_path: Path, pip: Venv, published: Path) -> Venv:
    venv = Venv.without_pip(tmp_path / "venv", env=pip.env, pip=pip)
    venv.install("--no-index", "--find-links", published, f"edda-framework=={PUBLISHED}")
    assert venv.installed()["edda-framework"] == PUBLISHED
    return venv


def assert_edda_core_is_ours(venv: Venv) -> None:
    """The installed edda package is this workspace's (not a same-named release from the index)."""
    installed = Path(venv.python_c("import edda; print(edda.__file__)"))
    assert installed.read_bytes() == (ROOT / "packages/edda-core/src/edda/__init__.py").read_bytes()


def wheel_files(wheel: Path, top: str = "edda/") -> set[str]:
    with zipfile.ZipFile(wheel) as zf:
        return {n for n in zf.namelist() if n.startswith(top) and not n.endswith("/")}


def test_one_step_pip_upgrade_deletes_the_shared_files_and_the_repair_command_restores_them(
    tmp_path: Path, pip: Venv, published: Path, wheels: dict[str, Path], wheel_dir: Path
) -> None:
    venv = install_published(tmp_path, pip, published)
    venv.install("--upgrade", "--find-links", wheel_dir, f"edda-framework=={VERSION}")

    # pip installed edda-core 1.0 first, then uninstalled edda-framework 0.16.2 by its RECORD: the files both
    # distributions list are gone. If this starts failing, pip changed; update docs/migrating-from-0.16.md.
    site = Path(venv.python_c("import sysconfig; print(sysconfig.get_paths()['purelib'])"))
    old = wheel_files(next(published.glob(f"edda_framework-{PUBLISHED}-*.whl")))
    new = wheel_files(wheels["edda-core"])
    shared = old & new
    assert "edda/__init__.py" in shared
    assert sorted(f for f in shared if (site / f).exists()) == [], "pip no longer deletes edda-core's shared files"
    assert sorted(f for f in new - shared if not (site / f).exists()) == []
    assert venv.python_c("import edda; print(getattr(edda, '__version__', None))") == "None"  # a namespace package

    # the documented repair
    venv.install("--force-reinstall", "--no-deps", "--find-links", wheel_dir, f"edda-core=={VERSION}")
    assert sorted(f for f in new if not (site / f).exists()) == []
    assert_edda_core_is_ours(venv)
    assert_runs_on_sqlite(venv, tmp_path)


def test_two_step_pip_upgrade_from_0_16_2(tmp_path: Path, pip: Venv, published: Path, wheel_dir: Path) -> None:
    venv = install_published(tmp_path, pip, published)
    # the command docs/migrating-from-0.16.md gives for pip
    venv.pip("uninstall", "-y", "edda-framework")
    venv.install("--find-links", wheel_dir, f"edda-framework=={VERSION}")
    assert_first_party_installed(venv)
    assert venv.python_c("import edda; print(edda.__version__)") == VERSION
    assert_edda_core_is_ours(venv)
    venv.pip("check")
    assert_runs_on_sqlite(venv, tmp_path)


def test_uv_upgrades_0_16_2_in_one_step(tmp_path: Path, pip: Venv, published: Path, wheel_dir: Path) -> None:
    uv = uv_executable()
    if uv is None:
        pytest.skip("uv is not installed")
    venv = install_published(tmp_path, pip, published)
    run(
        [
            uv,
            "pip",
            "install",
            "--python",
            venv.python,
            "--upgrade",
            "--find-links",
            wheel_dir,
            f"edda-framework=={VERSION}",
        ],
        env=pip.env,
        cwd=tmp_path,
    )
    assert_first_party_installed(venv)
    assert venv.python_c("import edda; print(edda.__version__)") == VERSION
    assert_edda_core_is_ours(venv)
    assert_runs_on_sqlite(venv, tmp_path)
