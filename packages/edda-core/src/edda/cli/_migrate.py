"""``edda migrate``: apply the schema migrations the database lacks, or (``--status``) only say which."""

from __future__ import annotations

import argparse
from typing import Any

from edda.cli._common import EXIT_OK, EXIT_PENDING_MIGRATIONS, add_db_option, client_app, print_json, run_async
from edda.exceptions import ConfigurationError

__all__ = ["configure"]


def configure(subparsers: Any) -> None:
    migrate = subparsers.add_parser(
        "migrate",
        help="apply pending schema migrations (or --status)",
        description="Apply the schema migrations the database lacks, as EddaApp(auto_migrate=True) does at start. "
        f"--status changes nothing; it exits with {EXIT_PENDING_MIGRATIONS} when migrations are pending.",
    )
    add_db_option(migrate)
    migrate.add_argument("--status", action="store_true", help="only report; exit 4 if migrations are pending")
    migrate.add_argument("--json", action="store_true", help="machine-readable output")
    migrate.set_defaults(handler=_migrate)


def _migrate(args: argparse.Namespace) -> int:
    async def work() -> int:
        pending: list[str] = []
        try:
            async with client_app(args):  # auto_migrate=False: only checks
                pass
        except ConfigurationError as exc:
            pending = list(getattr(exc, "pending_migrations", ()))
            if not pending:
                raise
        if pending and args.status:
            _report({"status": "pending", "pending": pending}, args.json, f"pending migrations: {', '.join(pending)}")
            return EXIT_PENDING_MIGRATIONS
        if pending:
            async with client_app(args, migrate=True):
                pass
        text = f"applied migrations: {', '.join(pending)}" if pending else "the schema is current"
        _report({"status": "current", "applied": pending}, args.json, text)
        return EXIT_OK

    return run_async(work())


def _report(state: dict[str, Any], as_json: bool, text: str) -> None:
    if as_json:
        print_json(state)
    else:
        print(text)
