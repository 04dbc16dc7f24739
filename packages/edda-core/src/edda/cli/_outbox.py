"""``edda outbox list|resend|skip``: the transactional outbox's events, for operators."""

from __future__ import annotations

import argparse
from typing import Any

from edda.cli._common import (
    EXIT_FAILED,
    EXIT_OK,
    CliError,
    add_db_option,
    client_app,
    print_json,
    print_table,
    run_async,
)
from edda.exceptions import OutboxStateError

__all__ = ["configure"]


def configure(subparsers: Any) -> None:
    outbox = subparsers.add_parser("outbox", help="list, re-send or skip outbox events", description=_HELP)
    actions = outbox.add_subparsers(dest="outbox_action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="events in commit order")
    add_db_option(listing)
    listing.add_argument("--status", help="pending, failed, published, expired or skipped")
    listing.add_argument("--limit", type=int, default=100, help="how many (default 100)")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(handler=_list)
    for name, what in (
        ("resend", "send a failed, expired or skipped event again, ahead of its instance's later events"),
        ("skip", "give up on a pending or failed event, so its instance's later events go out"),
    ):
        sub = actions.add_parser(name, help=what, description=what[0].upper() + what[1:] + ".")
        add_db_option(sub)
        sub.add_argument("event_id", metavar="EVENT_ID")
        sub.set_defaults(handler=_resend if name == "resend" else _skip)


_HELP = (
    "The outbox's events. A failed event holds back the later events of its instance (order per instance) "
    "until it is re-sent or skipped; a running relayer (EddaApp(outbox_enabled=True)) picks re-sent events up."
)


def _list(args: argparse.Namespace) -> int:
    async def work() -> int:
        async with client_app(args) as app:
            try:
                events = await app.list_outbox_events(status=args.status, limit=args.limit)
            except ValueError as exc:
                raise CliError(str(exc), 2) from None
        if args.json:
            print_json(events)
            return EXIT_OK
        rows = [
            (e.event_id, e.instance_id, e.event_type, e.status, e.attempts, e.created_at, e.last_error) for e in events
        ]
        print_table(("EVENT", "INSTANCE", "TYPE", "STATUS", "ATTEMPTS", "CREATED", "LAST ERROR"), rows)
        return EXIT_OK

    return run_async(work())


def _resend(args: argparse.Namespace) -> int:
    return _act(args, "resend_outbox_event", "will be sent again")


def _skip(args: argparse.Namespace) -> int:
    return _act(args, "skip_outbox_event", "is skipped")


def _act(args: argparse.Namespace, method: str, outcome: str) -> int:
    async def work() -> int:
        async with client_app(args) as app:
            try:
                await getattr(app, method)(args.event_id)
            except OutboxStateError as exc:
                raise CliError(str(exc), EXIT_FAILED) from None
        print(f"outbox event {args.event_id} {outcome}")
        return EXIT_OK

    return run_async(work())
