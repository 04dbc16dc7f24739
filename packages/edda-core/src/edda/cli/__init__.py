"""The ``edda`` command: operate workflows in any Edda database from a terminal or a CI job.

Built-in subcommands (standard library only): ``list``, ``show``, ``history``, ``cancel``, ``resume``,
``outbox list|resend|skip``, ``migrate``, ``replay`` and ``retention``. Installed packages add more through the
``edda.cli`` entry-point group (``edda viewer`` from edda-viewer): an entry point ``name = "module:configure"`` names
a function ``configure(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]`` that adds the
subcommand's options to ``parser`` and returns its handler. A plugin is imported only when its subcommand runs, so
a broken one never breaks ``edda --help`` or the other subcommands.

Exit codes: 0 success; 1 the operation failed; 2 bad usage (including no ``--db``/``EDDA_DB_URL``); 3 no such
instance or outbox event; 4 ``migrate --status`` found pending migrations. Database URLs are never printed with
their credentials.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from edda import __version__
from edda.cli import _instances, _migrate, _outbox, _replay, _retention
from edda.cli._common import EXIT_FAILED, CliError, Handler
from edda.cli._plugins import Plugin, find_plugins

__all__ = ["main"]


def build_parser(plugins: dict[str, Plugin], chosen: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edda",
        description="Operate Edda workflows: list and inspect instances, cancel and resume them, manage the outbox "
        "and the schema. Every subcommand takes --db URL (or $EDDA_DB_URL).",
        epilog="Exit codes: 0 ok, 1 failed, 2 usage, 3 not found, 4 pending migrations.",
    )

    parser.add_argument("--version", action="version", version=f"edda {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (_instances, _outbox, _migrate, _replay, _retention):
        module.configure(subparsers)
    for name, plugin in sorted(plugins.items()):
        sub = subparsers.add_parser(name, help=f"{plugin.summary} (from {plugin.distribution})")
        if name == chosen:
            sub.set_defaults(handler=plugin.load()(sub))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``edda`` command with ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    plugins = find_plugins()
    chosen = next((a for a in args_list if not a.startswith("-")), None)
    try:
        parser = build_parser(plugins, chosen if chosen in plugins else None)
    except CliError as exc:
        print(f"edda: {exc}", file=sys.stderr)
        return exc.code
    args = parser.parse_args(args_list)
    handler: Handler = args.handler
    try:
        return handler(args)
    except CliError as exc:
        print(f"edda: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print("edda: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # an unexpected failure: one line, not a traceback of the internals
        print(f"edda: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
