"""The ``edda-viewer`` command (also ``edda viewer``, through the ``edda.cli`` entry point group).

This module loads without NiceGUI: ``--help`` works, and running the command without NiceGUI says what to install.
The contract of the ``edda.cli`` group: ``configure(parser)`` adds the command's options to a (sub)parser and returns
the handler that runs it and returns an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType

from edda.exceptions import ConfigurationError
from edda_viewer._options import ViewerAuth, ViewerOptions, check_sqlite_exists, normalize_db_url
from edda_viewer._requirements import MISSING_NICEGUI, nicegui_installed

__all__ = ["configure", "main"]

DEFAULT_DB = "sqlite:///edda.db"
ENV_DB_URL = "EDDA_DB_URL"
ENV_APP_URL = "EDDA_APP_URL"
ENV_TOKEN = "EDDA_VIEWER_TOKEN"
ENV_USER = "EDDA_VIEWER_USER"
ENV_PASSWORD = "EDDA_VIEWER_PASSWORD"

_EPILOG = f"""\
environment:
  {ENV_DB_URL:<22}database URL; overrides --db (so a password need not be on the command line)
  {ENV_TOKEN:<22}the token (instead of --token)
  {ENV_USER:<22}basic auth user name (instead of --user)
  {ENV_PASSWORD:<22}basic auth password (instead of --password)
  {ENV_APP_URL:<22}accepted for compatibility with edda-framework 0.16 and not needed: the viewer
  {"":<22}starts and cancels workflows through the database; the app's workers pick them up

The viewer runs no workflow itself: run your app (its workers) beside it, on the same database.
Listening on an address other than 127.0.0.1/localhost needs a token or basic auth, or --insecure.
"""


def configure(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    """Add the viewer's options to ``parser`` and return the handler that runs the viewer.

    Args:
        parser: a parser or a subcommand's parser (``edda viewer``).

    Returns:
        ``handler(namespace) -> exit code``: 0 after a normal shutdown (Ctrl-C), 1 when NiceGUI is missing, 2 for
        bad options or a module that cannot be imported.
    """
    parser.description = parser.description or "See, start and operate Edda workflows in the browser."
    parser.epilog = parser.epilog or _EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "--db", "-d", default=None, metavar="URL",
        help=f"database URL or SQLite file (default {DEFAULT_DB}; {ENV_DB_URL} overrides it)",
    )  # fmt: skip
    parser.add_argument("--port", "-p", type=int, default=8080, help="port to listen on (default 8080)")
    parser.add_argument(
        "--host", default="127.0.0.1",
        help="address to listen on (default 127.0.0.1; any other needs --token or --user/--password, or --insecure)",
    )  # fmt: skip
    parser.add_argument(
        "--import-module", "-m", action="append", default=[], metavar="MODULE", dest="import_modules",
        help="import a module (or a .py file) that defines workflows, so they can be started and drawn; repeatable",
    )  # fmt: skip
    parser.add_argument("--token", default=None, help=f"require this token (prefer {ENV_TOKEN})")
    parser.add_argument("--user", default=None, help=f"basic auth user name (or {ENV_USER})")
    parser.add_argument("--password", default=None, help=f"basic auth password (prefer {ENV_PASSWORD})")
    parser.add_argument(
        "--insecure", action="store_true",
        help="allow a non-loopback address without authentication (only behind something that authenticates)",
    )  # fmt: skip
    parser.add_argument(
        "--read-only", action="store_true", help="hide start, cancel and outbox actions: the viewer only reads"
    )
    parser.add_argument(
        "--retention-days", type=float, default=None, metavar="DAYS",
        help="your app's instance_retention_days: the list then says which finished instances it deletes",
    )  # fmt: skip
    return _run


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``edda-viewer`` command with ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    parser = argparse.ArgumentParser(prog="edda-viewer")
    handler = configure(parser)
    return handler(parser.parse_args(argv))


def _fail(message: str, code: int = 2) -> int:
    print(f"edda-viewer: error: {message}", file=sys.stderr)
    return code


def _run(ns: argparse.Namespace) -> int:
    try:
        db_url = normalize_db_url(os.environ.get(ENV_DB_URL) or ns.db or DEFAULT_DB)
        auth = ViewerAuth(
            token=ns.token or os.environ.get(ENV_TOKEN) or None,
            username=ns.user or os.environ.get(ENV_USER) or None,
            password=ns.password or os.environ.get(ENV_PASSWORD) or None,
        )
        options = ViewerOptions(
            host=ns.host, port=ns.port, auth=auth, insecure=ns.insecure, read_only=ns.read_only,
            retention_days=ns.retention_days,
        )  # fmt: skip
    except ConfigurationError as exc:
        return _fail(str(exc))
    if not nicegui_installed():
        return _fail(MISSING_NICEGUI, code=1)
    try:
        check_sqlite_exists(db_url)
        for name in ns.import_modules:
            import_workflow_module(name)
    except (ConfigurationError, ImportError) as exc:
        return _fail(str(exc))
    if os.environ.get(ENV_APP_URL):
        print(
            f"edda-viewer: note: {ENV_APP_URL} is not needed any more and is ignored: the viewer starts and cancels "
            "workflows through the database, and your app's workers pick them up.",
            file=sys.stderr,
        )
    from edda_viewer._server import run_standalone

    return run_standalone(db_url, options)


def import_workflow_module(name: str) -> ModuleType:
    """Import ``name`` (``examples.quickstart``) or a ``.py`` file, with the working directory on ``sys.path``.

    Raises:
        ImportError: the module cannot be imported; the message names it and the cause.
    """
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
    try:
        if name.endswith(".py"):
            return _import_file(Path(name))
        return importlib.import_module(name)
    except ImportError as exc:
        raise ImportError(
            f"Cannot import module {name!r} (-m): {type(exc).__name__}: {exc}. Run the viewer from the directory "
            "that contains it, or give its dotted name as your app imports it."
        ) from exc
    except Exception as exc:
        raise ImportError(f"Importing module {name!r} (-m) failed: {type(exc).__name__}: {exc}") from exc


def _import_file(path: Path) -> ModuleType:
    if not path.is_file():
        raise ImportError(f"no such file: {str(path)!r}")
    name = path.stem
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"{str(path)!r} is not a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


if __name__ == "__main__":
    raise SystemExit(main())
