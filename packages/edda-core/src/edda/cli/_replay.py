"""``edda replay``: would a deploy of the code as it is now strand any instance? Replays recorded histories (of the
database's unfinished instances, a sample of finished ones, or exported JSON files) and executes nothing."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from edda._replay import ReplayReport, load_history_export, replay_export, replay_instances
from edda.cli._common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    Progress,
    add_db_option,
    client_app,
    print_json,
    print_table,
    run_async,
)

__all__ = ["configure", "import_modules"]


def configure(subparsers: Any) -> None:
    replay = subparsers.add_parser(
        "replay",
        help="replay recorded histories against the current code (exit 1 if a deploy would strand instances)",
        description="Replay the histories of the database's unfinished instances (and --finished-sample N finished "
        "ones), or of history files exported with `edda history ID --json`, against the workflow code as it is "
        "now. Nothing is executed and nothing is written. Exit 0: every history replays; exit 1: some instance "
        "diverges (a worker would fail it with NonDeterminismError), fails to replay, or has no workflow here.",
    )
    add_db_option(replay)
    replay.add_argument("files", nargs="*", metavar="FILE", help="history exports to replay instead of --db")
    replay.add_argument(
        "-m", "--import-module", dest="modules", action="append", default=[], metavar="MODULE",
        help="import MODULE so its workflows register (repeatable), e.g. -m myapp.workflows",
    )  # fmt: skip
    replay.add_argument("--workflow", "-w", action="append", default=None, help="only this workflow (repeatable)")
    replay.add_argument("--finished-sample", type=int, default=0, metavar="N", help="also N random finished ones")
    replay.add_argument("--json", action="store_true", help="every result as JSON")
    replay.set_defaults(handler=_replay)


def import_modules(modules: list[str]) -> None:
    """Import ``modules`` (the current directory first on ``sys.path``, as ``python -m`` has it)."""
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise CliError(f"cannot import {module!r}: {exc}", EXIT_USAGE) from None


def _replay(args: argparse.Namespace) -> int:
    import_modules(args.modules)
    if args.finished_sample < 0:
        raise CliError("--finished-sample must be 0 or more", EXIT_USAGE)

    async def work() -> int:
        progress = Progress("replayed")
        try:
            if args.files:
                report = ReplayReport([await replay_export(data) for data in _read_exports(args.files)])
            else:
                async with client_app(args) as app:
                    report = await replay_instances(
                        app.storage,
                        workflow_names=args.workflow,
                        finished_sample=args.finished_sample,
                        progress=lambda _: progress.step(),
                    )
        finally:
            progress.close()
        _print(report, as_json=args.json)
        return EXIT_OK if report.ok else EXIT_FAILED

    return run_async(work())


def _read_exports(files: list[str]) -> list[dict[str, Any]]:
    exports = []
    for name in files:
        try:
            data = json.loads(Path(name).read_text(encoding="utf-8"))
            load_history_export(data)  # checks the format before anything runs
        except (OSError, ValueError) as exc:
            raise CliError(f"cannot read {name}: {exc}", EXIT_USAGE) from None
        exports.append(data)
    return exports


def _print(report: ReplayReport, *, as_json: bool) -> None:
    if as_json:
        print_json({"ok": report.ok, "results": report.results})
        return
    rows = [
        (name, sum(c.values()), c["ok"], c["diverged"], c["error"] + c["unknown-workflow"])
        for name, c in sorted(report.by_workflow().items())
    ]
    print_table(("WORKFLOW", "INSTANCES", "CLEAN", "DIVERGED", "ERRORS"), rows)
    for result in report.problems:
        where = f" at step {result.position}" if result.position is not None else ""
        print(f"\n{result.instance_id} ({result.workflow_name}, {result.status}): {result.outcome}{where}")
        print(f"  {result.detail}")
    print("\nOK: every history replays" if report.ok else f"\n{len(report.problems)} instance(s) would be stranded")
