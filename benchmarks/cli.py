"""Command line: ``python -m benchmarks run ...`` and ``python -m benchmarks report FILE``."""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.report import load_json, render_markdown, render_text, write_json
from benchmarks.runner import Options, Suite
from benchmarks.spec import ALL_WORKLOADS, DATABASES, DEFAULT_DATABASES, DEFAULT_WORKLOADS
from benchmarks.venvs import BENCH_DIR, PEERS, SYSTEMS


def _csv(value: str, allowed: tuple[str, ...], what: str) -> tuple[str, ...]:
    items = tuple(dict.fromkeys(item.strip() for item in value.split(",") if item.strip()))
    unknown = [item for item in items if item not in allowed]
    if unknown or not items:
        raise argparse.ArgumentTypeError(f"unknown {what}: {', '.join(unknown) or '(none)'}; choose from {allowed}")
    return items


def _workloads(value: str) -> tuple[str, ...]:
    if value.strip().lower() == "all":
        return ALL_WORKLOADS
    return _csv(value.upper(), ALL_WORKLOADS, "workload")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description="Edda benchmark suite")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run workloads and print a table (medians of N runs)")
    run.add_argument(
        "--db",
        choices=("sqlite", "postgres", "mysql", "both", "all"),
        default="both",
        help="both: sqlite + postgres; all: + mysql (W9 runs on postgres and mysql only)",
    )
    run.add_argument(
        "--workloads",
        type=_workloads,
        default=DEFAULT_WORKLOADS,
        help=f"comma-separated from {','.join(ALL_WORKLOADS)}, or `all` (default: {','.join(DEFAULT_WORKLOADS)})",
    )
    run.add_argument(
        "--systems",
        type=lambda v: _csv(v.lower(), tuple(SYSTEMS), "system"),
        default=None,
        help="comma-separated: edda,edda-framework,dbos (default: edda, plus every peer with --compare)",
    )
    run.add_argument("--compare", action="store_true", help="also run the peers, each in its own virtualenv")
    run.add_argument("--runs", type=int, default=3, help="runs per measurement; the table shows medians")
    run.add_argument("--scale", type=float, default=1.0, help="multiply workflow counts / FLOOR duration (smoke)")
    run.add_argument("--out", type=Path, default=None, help="JSON results file (default: results/<time>.json)")
    run.add_argument("--tmp-dir", type=Path, default=None, help="where SQLite databases are created")
    run.add_argument("--markdown", action="store_true", help="print the table as Markdown too")
    run.add_argument(
        "--variant",
        action="append",
        default=[],
        help="W3-W10: run only the rows whose variant label contains this text (repeatable), e.g. --variant HTTP",
    )

    report = commands.add_parser("report", help="print the table of a saved JSON results file")
    report.add_argument("file", type=Path)
    report.add_argument("--markdown", action="store_true")
    return parser


def _run(args: argparse.Namespace) -> int:
    if args.runs < 1 or args.scale <= 0:
        raise SystemExit("--runs must be >= 1 and --scale > 0")
    systems = args.systems or (("edda", *PEERS) if args.compare else ("edda",))
    dbs = {"both": DEFAULT_DATABASES, "all": DATABASES}.get(args.db, (args.db,))
    options = Options(
        dbs=dbs,
        workloads=args.workloads,
        systems=systems,
        runs=args.runs,
        scale=args.scale,
        tmp_root=args.tmp_dir,
        variants=tuple(args.variant),
    )
    try:
        document = asyncio.run(Suite(options, lambda line: print(line, flush=True)).run())
    except KeyboardInterrupt:
        print("interrupted: children killed, benchmark databases dropped; no results written")
        return 130
    out = args.out or BENCH_DIR / "results" / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    write_json(document, out)
    print()
    print(render_text(document))
    if args.markdown:
        print()
        print(render_markdown(document))
    print(f"\nresults written to {out}")
    ok = any(series["status"] == "ok" for series in document["series"])
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "report":
        document = load_json(args.file)
        print(render_markdown(document) if args.markdown else render_text(document))
        return 0
    return _run(args)
