"""``edda retention --days N``: which finished instances an app with ``instance_retention_days=N`` deletes.

It only reads: the deleting is done by the workers of an app configured with the period (see docs/recovery.md).
"""

from __future__ import annotations

import argparse
import math
from typing import Any

from edda._retention import retention_cutoff
from edda.cli._common import EXIT_OK, add_db_option, client_app, print_json, print_table, run_async

__all__ = ["configure"]

_HELP = (
    "Show the finished instances (completed, failed, cancelled) that an app running with "
    "instance_retention_days=DAYS deletes, with their history: those that finished more than DAYS days ago. "
    "An instance with an outbox event still to send (pending or failed) is kept until the event is sent or skipped, "
    "and is not listed. Nothing is deleted by this command."
)


def configure(subparsers: Any) -> None:
    sub = subparsers.add_parser("retention", help="finished instances that retention deletes", description=_HELP)
    add_db_option(sub)
    sub.add_argument("--days", type=_days, required=True, help="the retention period in days (e.g. 30, or 0.5)")
    sub.add_argument("--limit", type=_limit, default=50, help="list at most this many, earliest finished first (50)")
    sub.add_argument("--json", action="store_true", help="one JSON document: days, cutoff, count, instances")
    sub.set_defaults(handler=_retention)


def _days(text: str) -> float:
    try:
        days = float(text)
    except ValueError:
        days = math.nan
    if not (math.isfinite(days) and 0 < days <= 36500):
        raise argparse.ArgumentTypeError(f"--days takes a number of days above 0 (at most 36500), got {text!r}")
    return days


def _limit(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 1000:
        raise argparse.ArgumentTypeError(f"--limit takes a whole number from 1 to 1000, got {text!r}")
    return int(text)


def _retention(args: argparse.Namespace) -> int:
    async def work() -> int:
        async with client_app(args) as app:
            cutoff = retention_cutoff(app.clock.now(), args.days)
            count = await app.storage.count_expired_instances(finished_before=cutoff)
            shown = await app.storage.find_expired_instances(finished_before=cutoff, limit=args.limit)
        if args.json:
            more = count > len(shown)
            print_json({"days": args.days, "cutoff": cutoff, "count": count, "instances": shown, "has_more": more})
            return EXIT_OK
        period = f"{args.days:g} day{'' if args.days == 1 else 's'}"
        print(
            f"{count} finished instance(s) finished more than {period} ago (before {cutoff:%Y-%m-%d %H:%M:%S} UTC): an "
            f"app with instance_retention_days={args.days:g} deletes them, with their history."
        )
        if shown:
            rows = [(r.instance_id, r.workflow_name, r.status, r.completed_at) for r in shown]
            print_table(("INSTANCE", "WORKFLOW", "STATUS", "FINISHED"), rows)
        if count > len(shown):
            print(f"(the {len(shown)} that finished first; --limit shows more)")
        return EXIT_OK

    return run_async(work())
