"""``edda list``, ``show``, ``history``, ``cancel`` and ``resume``: instances, read and operated from a terminal."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from typing import Any

from edda._replay import HISTORY_FORMAT
from edda.cli._common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    add_db_option,
    client_app,
    print_json,
    print_table,
    run_async,
    to_jsonable,
)
from edda.exceptions import WorkflowNotFoundError, WorkflowStateError

__all__ = ["configure"]


def configure(subparsers: Any) -> None:
    listing = subparsers.add_parser("list", help="find instances (newest first)", description=_LIST_HELP)
    add_db_option(listing)
    listing.add_argument("--status", help="exact status: running, waiting_for_event, completed, failed, ...")
    listing.add_argument("--workflow", "-w", help="workflow name contains this (case-insensitive)")
    listing.add_argument("--id", dest="instance_id", help="instance id contains this (case-insensitive)")
    listing.add_argument(
        "--input", action="append", default=[], metavar="PATH=VALUE", help="input value equals VALUE (repeatable)"
    )
    listing.add_argument("--started-after", type=_moment, metavar="ISO", help="started at or after (ISO 8601)")
    listing.add_argument("--started-before", type=_moment, metavar="ISO", help="started at or before (ISO 8601)")
    listing.add_argument("--limit", type=int, default=50, help="page size, 1 to 1000 (default 50)")
    listing.add_argument("--page-token", help="next_page_token of a previous --json page")
    listing.add_argument("--json", action="store_true", help="one JSON document: instances and next_page_token")
    listing.set_defaults(handler=_list)

    for name, handler, what in (
        ("show", _show, "an instance: status, input, output, error"),
        ("history", _history, "an instance's recorded history (--json: a file `edda replay` reads)"),
        ("cancel", _cancel, "cancel an instance: a worker that has its code runs the compensations"),
        ("resume", _resume, "make an instance runnable now, for a worker that has its code"),
    ):
        sub = subparsers.add_parser(name, help=what, description=what[0].upper() + what[1:] + ".")
        add_db_option(sub)
        sub.add_argument("instance_id", metavar="ID")
        if name in ("show", "history"):
            sub.add_argument("--json", action="store_true", help="machine-readable output")
        sub.set_defaults(handler=handler)


_LIST_HELP = (
    "Find workflow instances, newest first. Filters combine with AND. --input PATH=VALUE matches an input value "
    'exactly: PATH is dotted (customer.id), VALUE is read as JSON when it parses (42, true, "42") and as a '
    "string otherwise."
)


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r} (e.g. 2026-12-04T10:00:00+00:00)") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no time zone: add one, e.g. {text}+00:00")
    return moment


def _input_filters(pairs: list[str]) -> dict[str, Any]:
    filters: dict[str, Any] = {}
    for pair in pairs:
        path, sep, raw = pair.partition("=")
        if not sep or not path:
            raise CliError(f"--input takes PATH=VALUE, got {pair!r}", EXIT_USAGE)
        try:
            filters[path] = json.loads(raw)
        except ValueError:
            filters[path] = raw
    return filters


def _list(args: argparse.Namespace) -> int:
    async def work() -> int:
        async with client_app(args) as app:
            try:
                page = await app.find_instances(
                    input_filters=_input_filters(args.input) or None,
                    status=args.status,
                    workflow_name=args.workflow,
                    instance_id=args.instance_id,
                    started_after=args.started_after,
                    started_before=args.started_before,
                    limit=args.limit,
                    page_token=args.page_token,
                )
            except ValueError as exc:
                raise CliError(str(exc), EXIT_USAGE) from None
        if args.json:
            print_json(page)
            return EXIT_OK
        rows = [(r.instance_id, r.workflow_name, r.status, r.started_at, r.updated_at) for r in page["instances"]]
        print_table(("INSTANCE", "WORKFLOW", "STATUS", "STARTED", "UPDATED"), rows)
        if page["next_page_token"]:
            print(f"(more: --page-token {page['next_page_token']})")
        return EXIT_OK

    return run_async(work())


def _show(args: argparse.Namespace) -> int:
    async def work() -> int:
        async with client_app(args) as app:
            record = await _record(app, args.instance_id)
        if args.json:
            print_json(record)
            return EXIT_OK
        for key in ("instance_id", "workflow_name", "status", "created_at", "updated_at", "completed_at"):
            print(f"{key + ':':15} {to_jsonable(record[key]) if record[key] is not None else '-'}")
        print(f"{'input:':15} {json.dumps(to_jsonable(record.input_data), ensure_ascii=False)}")
        if record.output_data is not None:
            print(f"{'output:':15} {json.dumps(to_jsonable(record.output_data), ensure_ascii=False)}")
        if record.wait:
            print(f"{'waiting for:':15} {json.dumps(to_jsonable(record.wait), ensure_ascii=False)}")
        if record.error:
            error = record.error
            print(f"{'error:':15} {error.get('error_type', 'Error')}: {error.get('message', '')}")
            if error.get("traceback"):
                print(str(error["traceback"]).rstrip())
        return EXIT_OK

    return run_async(work())


def _history(args: argparse.Namespace) -> int:
    async def work() -> int:
        async with client_app(args) as app:
            record = await _record(app, args.instance_id)
            events = await app.storage.get_history(args.instance_id)
        if args.json:
            print_json({"format": HISTORY_FORMAT, "instance": record, "history": events})
            return EXIT_OK
        rows = [(e.seq, e.created_at, e.event_type, e.activity_id, _summary(e.event_data)) for e in events]
        print_table(("SEQ", "AT", "EVENT", "STEP", "DATA"), rows)
        return EXIT_OK

    return run_async(work())


def _summary(data: Any) -> str:
    return json.dumps(to_jsonable(data), ensure_ascii=False, sort_keys=True)


def _cancel(args: argparse.Namespace) -> int:
    async def work() -> int:
        async with client_app(args) as app:
            try:
                await app.cancel_workflow(args.instance_id)
            except WorkflowStateError as exc:
                raise CliError(str(exc), EXIT_FAILED) from None
        print(f"cancel requested for {args.instance_id}: a worker that defines its workflow runs the compensations")
        return EXIT_OK

    return run_async(work())


def _resume(args: argparse.Namespace) -> int:
    async def work() -> int:
        async with client_app(args) as app:
            record = await _record(app, args.instance_id)
            try:
                await app.resume_workflow(args.instance_id)
            except WorkflowStateError as exc:
                raise CliError(str(exc), EXIT_FAILED) from None
        again = " (it failed on NonDeterminismError: retried from its history)" if record.status == "failed" else ""
        print(f"{args.instance_id} is runnable{again}: a worker that defines {record.workflow_name} runs it")
        return EXIT_OK

    return run_async(work())


async def _record(app: Any, instance_id: str) -> Any:
    record = await app.get_instance(instance_id)
    if record is None:
        raise WorkflowNotFoundError(f"No workflow instance {instance_id!r}")
    return record
