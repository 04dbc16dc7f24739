"""What every subcommand shares: the database option, the client app, JSON and table output, progress on a
terminal, and the exit codes."""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import fields, is_dataclass
from datetime import datetime
from enum import Enum
from typing import Any, TextIO

from edda._app import EddaApp
from edda._settings import display_url
from edda.exceptions import (
    OutboxEventNotFoundError,
    StorageNotFoundError,
    StorageUnavailableError,
    WorkflowNotFoundError,
)

__all__ = [
    "EXIT_FAILED",
    "EXIT_NOT_FOUND",
    "EXIT_OK",
    "EXIT_PENDING_MIGRATIONS",
    "EXIT_USAGE",
    "CliError",
    "Handler",
    "Progress",
    "add_db_option",
    "client_app",
    "print_json",
    "print_table",
    "run_async",
    "to_jsonable",
]

EXIT_OK = 0
EXIT_FAILED = 1  # the operation failed or found a problem (a divergent replay, a finished instance to cancel, ...)
EXIT_USAGE = 2  # bad arguments (argparse uses 2 as well)
EXIT_NOT_FOUND = 3  # no such instance or outbox event
EXIT_PENDING_MIGRATIONS = 4  # `edda migrate --status`: the schema lacks migrations

Handler = Callable[[argparse.Namespace], int]


class CliError(Exception):
    """A failure to report on stderr as ``edda: <message>`` with exit code ``code``."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


def add_db_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        "-d",
        dest="db",
        metavar="URL",
        help="database URL (sqlite:///path.db, postgresql://..., mysql://...); default: $EDDA_DB_URL",
    )


def db_url_of(args: argparse.Namespace) -> str:
    url = getattr(args, "db", None) or os.environ.get("EDDA_DB_URL")
    if not url:
        raise CliError("no database: pass --db URL (for example --db sqlite:///edda.db) or set EDDA_DB_URL", EXIT_USAGE)
    return url


@asynccontextmanager
async def client_app(args: argparse.Namespace, *, migrate: bool = False) -> AsyncIterator[Any]:
    """An ``EddaApp`` in client mode on ``--db``: it runs no workflow and, unless ``migrate``, changes no schema."""
    url = db_url_of(args)
    app = EddaApp(service_name="edda-cli", db_url=url, run_workflows=False, auto_migrate=migrate)
    try:
        await app.initialize()
    except (StorageNotFoundError, ImportError) as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    except StorageUnavailableError as exc:
        raise CliError(f"cannot reach the database {display_url(url)}: {exc}") from None
    try:
        yield app
    finally:
        await app.shutdown()


def run_async(work: Awaitable[int]) -> int:
    return asyncio.run(_guarded(work))


async def _guarded(work: Awaitable[int]) -> int:
    try:
        return await work
    except (WorkflowNotFoundError, OutboxEventNotFoundError) as exc:
        raise CliError(str(exc), EXIT_NOT_FOUND) from None


def to_jsonable(value: Any) -> Any:
    """``value`` as plain JSON types: records and dataclasses as objects, datetimes in ISO 8601, bytes as
    ``{"base64": ...}``."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return {"base64": base64.b64encode(bytes(value)).decode("ascii")}
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    return value


def print_json(value: Any, out: TextIO | None = None) -> None:
    stream = out or sys.stdout
    stream.write(json.dumps(to_jsonable(value), indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], out: TextIO | None = None) -> None:
    """Columns padded to their widest cell; cells longer than 60 characters are cut with an ellipsis."""
    stream = out or sys.stdout
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    for row in [list(headers), *cells]:
        stream.write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    text = value if isinstance(value, str) else json.dumps(to_jsonable(value), ensure_ascii=False)
    text = text.replace("\n", " ")
    return text if len(text) <= 60 else text[:59] + "…"


class Progress:
    """``done/total`` on stderr, rewritten in place, only when stderr is a terminal (never into a pipe or a log)."""

    def __init__(self, label: str, total: int | None = None, stream: TextIO | None = None) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self._stream = stream or sys.stderr
        self._shown = self._stream.isatty()

    def step(self, count: int = 1) -> None:
        self.done += count
        if self._shown:
            total = f"/{self.total}" if self.total is not None else ""
            self._stream.write(f"\r{self.label}: {self.done}{total}")
            self._stream.flush()

    def close(self) -> None:
        if self._shown and self.done:
            self._stream.write("\n")
            self._stream.flush()
