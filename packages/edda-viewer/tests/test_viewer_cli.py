"""The ``edda-viewer`` command line: options, environment variables, and the refusals that stop it before it serves
anything (a non-loopback address without authentication, a missing database file, a module that does not import,
NiceGUI missing, a database that cannot be opened)."""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from viewer_test_support import child_env

from edda_viewer import cli
from edda_viewer._requirements import MISSING_NICEGUI

TOKEN = "a-token-long-enough-1234"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("EDDA_DB_URL", "EDDA_APP_URL", "EDDA_VIEWER_TOKEN", "EDDA_VIEWER_USER", "EDDA_VIEWER_PASSWORD"):
        monkeypatch.delenv(name, raising=False)


def test_configure_adds_the_options_to_a_subcommand_and_returns_its_handler() -> None:
    parser = argparse.ArgumentParser(prog="edda")
    sub = parser.add_subparsers(dest="command")
    handler = cli.configure(sub.add_parser("viewer"))
    ns = parser.parse_args(
        ["viewer", "-d", "app.db", "-p", "9000", "--host", "::1", "-m", "a.b", "--import-module", "c", "--read-only"]
    )
    assert callable(handler)
    assert (ns.db, ns.port, ns.host, ns.import_modules, ns.read_only) == ("app.db", 9000, "::1", ["a.b", "c"], True)
    defaults = parser.parse_args(["viewer"])
    assert (defaults.db, defaults.port, defaults.host, defaults.import_modules) == (None, 8080, "127.0.0.1", [])
    assert (defaults.token, defaults.user, defaults.password, defaults.insecure) == (None, None, None, False)


def test_help_names_the_environment_variables(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for name in ("EDDA_DB_URL", "EDDA_APP_URL", "EDDA_VIEWER_TOKEN", "EDDA_VIEWER_USER", "EDDA_VIEWER_PASSWORD"):
        assert name in out
    assert "--insecure" in out and "--import-module" in out


def test_a_non_loopback_address_without_authentication_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--host", "0.0.0.0", "--db", "nowhere.db"]) == 2
    err = capsys.readouterr().err
    assert "Refusing to listen on 0.0.0.0" in err and "--token" in err and "--insecure" in err


def test_authentication_from_the_environment_passes_the_address_check(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EDDA_VIEWER_TOKEN", TOKEN)
    # The next check (the database file) stops it: the address was accepted.
    assert cli.main(["--host", "0.0.0.0", "--db", str(tmp_path / "missing.db")]) == 2
    err = capsys.readouterr().err
    assert "There is no SQLite database" in err and "Refusing" not in err
    monkeypatch.delenv("EDDA_VIEWER_TOKEN")
    monkeypatch.setenv("EDDA_VIEWER_USER", "ops")
    assert cli.main(["--host", "0.0.0.0", "--db", str(tmp_path / "missing.db")]) == 2
    assert "the password is missing" in capsys.readouterr().err


def test_edda_db_url_overrides_db(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("EDDA_DB_URL", f"sqlite:///{tmp_path / 'from-env.db'}")
    assert cli.main(["--db", str(tmp_path / "from-flag.db")]) == 2
    err = capsys.readouterr().err
    assert "from-env.db" in err and "from-flag.db" not in err


def test_a_module_that_does_not_import_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "app.db"
    db.write_bytes(b"")
    assert cli.main(["--db", str(db), "-m", "no_such_module_for_the_viewer"]) == 2
    err = capsys.readouterr().err
    assert "Cannot import module 'no_such_module_for_the_viewer' (-m): ModuleNotFoundError" in err
    broken = tmp_path / "broken_workflows.py"
    broken.write_text("raise RuntimeError('boom at import')\n")
    assert cli.main(["--db", str(db), "-m", str(broken)]) == 2
    assert "RuntimeError: boom at import" in capsys.readouterr().err


def test_a_py_file_and_a_dotted_module_from_the_working_directory_are_imported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pkg = tmp_path / "viewer_cli_pkg"
    pkg.mkdir()
    (pkg / "flows.py").write_text("VALUE = 41\n")
    (tmp_path / "viewer_cli_file.py").write_text("VALUE = 42\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    assert cli.import_workflow_module("viewer_cli_pkg.flows").VALUE == 41
    assert cli.import_workflow_module(str(tmp_path / "viewer_cli_file.py")).VALUE == 42


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_database_that_cannot_be_opened_is_reported_without_its_url(tmp_path: Path) -> None:
    url = f"postgresql://edda:S3cret-Pa55@127.0.0.1:{_closed_port()}/orders"
    proc = subprocess.run(
        [sys.executable, "-m", "edda_viewer.cli"],
        env=child_env(EDDA_DB_URL=url),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=90,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert "cannot open the database (postgresql: 127.0.0.1:" in output
    assert "S3cret-Pa55" not in output and "edda:" not in output


_WITHOUT_NICEGUI = "import sys; sys.modules['nicegui'] = None\n"


def test_without_nicegui_the_command_says_what_to_install(tmp_path: Path) -> None:
    code = _WITHOUT_NICEGUI + "from edda_viewer.cli import main\nraise SystemExit(main(['--db', 'x.db']))\n"
    proc = subprocess.run([sys.executable, "-c", code], env=child_env(), cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 1
    assert MISSING_NICEGUI in proc.stderr and "Traceback" not in proc.stderr
    code = _WITHOUT_NICEGUI + "from edda_viewer.cli import main\nmain(['--help'])\n"
    proc = subprocess.run([sys.executable, "-c", code], env=child_env(), cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0 and "--import-module" in proc.stdout


def test_without_nicegui_importing_the_package_raises_the_install_line(tmp_path: Path) -> None:
    code = _WITHOUT_NICEGUI + (
        "try:\n    import edda_viewer\nexcept ImportError as exc:\n    print('ImportError:', exc)\n"
        "from importlib.metadata import entry_points\n"
        "(ep,) = [e for e in entry_points(group='edda.cli') if e.name == 'viewer']\n"
        "print('entry point loads:', callable(ep.load()))\n"
        "import edda_viewer\n"
        "try:\n    edda_viewer.start_viewer\nexcept ImportError as exc:\n    print('start_viewer:', exc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], env=child_env(), cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == f"ImportError: {MISSING_NICEGUI}"
    assert lines[1] == "entry point loads: True"
    assert lines[2] == f"start_viewer: {MISSING_NICEGUI}"
