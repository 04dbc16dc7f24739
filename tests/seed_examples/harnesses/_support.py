"""What every harness uses: the example's text, its database, and ways to run a fragment without editing it.

A harness runs in a fresh interpreter whose working directory is a temporary directory (so an example's
``sqlite:///workflow.db`` lands there). Environment:

* ``EDDA_SEED_EXAMPLE``: the example's id; ``EDDA_SEED_FILE``: its extracted file.
* ``EDDA_SEED_BACKEND``: ``sqlite`` or ``postgresql``; ``EDDA_SEED_DB_URL``: the database harness-made apps use
  (a SQLite file in the working directory, or a PostgreSQL database created for this run).

URLs an example names for PostgreSQL (``postgresql://user:pass@localhost/dbname``) are sent to that database
through the storage registry's public ``edda.storage.register`` (see :func:`redirect_postgresql`): the example's
text stays as written, the real SQL storage opens the test database.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import inspect
import io
import os
import sys
import types
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import edda

MARK = "SEED-EXAMPLE-OK"
_FLAGS = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT


@dataclass
class Run:
    """One run of one example."""

    example_id: str
    path: Path
    backend: str
    db_url: str
    checks: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return self.path.read_text(encoding="utf-8")

    def code(self) -> types.CodeType:
        """The example compiled as written (``await`` allowed at the top, as in the seeds' snippets)."""
        return compile(self.text, str(self.path), "exec", flags=_FLAGS, dont_inherit=True)

    def ok(self, what: str) -> None:
        """Record a check that passed (the runner prints them; at least one is required)."""
        self.checks.append(what)
        print(f"{MARK} {what}", flush=True)


def edda_names(*names: str) -> dict[str, Any]:
    """Public names of ``edda`` that a fragment uses without importing them (its imports were elided)."""
    return {name: getattr(edda, name) for name in names}


def new_module(run: Run, names: dict[str, Any] | None = None, *, name: str = "seed_example") -> types.ModuleType:
    module = types.ModuleType(name)
    module.__file__ = str(run.path)
    module.__dict__.update(names or {})
    sys.modules[name] = module
    return module


async def execute(run: Run, names: dict[str, Any] | None = None, *, name: str = "seed_example") -> types.ModuleType:
    """Run the example's text as a module into which ``names`` were put first (what the snippet assumes exists);
    top-level ``await`` runs in the current event loop. Returns the module, so its definitions can be used."""
    module = new_module(run, names, name=name)
    result = eval(run.code(), module.__dict__)
    if inspect.iscoroutine(result):
        await result
    return module


async def execute_in(run: Run, namespace: dict[str, Any]) -> dict[str, Any]:
    """Run the example's text with ``namespace`` as its globals (inside a workflow or an activity, that is the body
    the snippet was cut from); returns the namespace with the snippet's variables."""
    namespace.setdefault("__name__", "seed_example_body")
    result = eval(run.code(), namespace)
    if inspect.iscoroutine(result):
        await result
    return namespace


def define(run: Run, names: dict[str, Any] | None = None) -> types.ModuleType:
    """Run only the example's imports and definitions (functions, classes), not its top-level statements: for a
    snippet that defines workers and then publishes to them, so the workers can be started first."""
    tree = ast.parse(run.text)
    kept = [
        n
        for n in tree.body
        if isinstance(n, ast.Import | ast.ImportFrom | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    ]
    module = new_module(run, names, name="seed_example_definitions")
    exec(compile(ast.Module(kept, []), str(run.path), "exec"), module.__dict__)
    return module


class _Redirect:
    """A storage factory for a scheme the example names, opening the run's database instead."""

    def __init__(self, target: str) -> None:
        self.target = target

    def from_url(self, url: str, **options: Any) -> Any:
        from edda_storage_sql import SQLAlchemyStorage

        return SQLAlchemyStorage.from_url(self.target, **options)


def redirect_postgresql(run: Run) -> None:
    for scheme in ("postgresql", "postgres", "postgresql+asyncpg"):
        edda.storage.register(scheme, _Redirect(run.db_url))


def harness_app(run: Run, **options: Any) -> edda.EddaApp:
    """An app on the run's database, for examples that define workflows but no app."""
    options.setdefault("service_name", "seed-harness")
    options.setdefault("db_url", run.db_url)
    return edda.EddaApp(**options)


@contextlib.asynccontextmanager
async def running(app: edda.EddaApp) -> AsyncIterator[edda.EddaApp]:
    await app.initialize()
    try:
        yield app
    finally:
        await app.shutdown()


async def skip_time(app: edda.EddaApp, clock: Any, instance_id: str, seconds: float) -> None:
    """Once the instance waits on its timer, move the app's FakeClock ``seconds`` ahead (the timer then fires)."""
    await wait_status(app, instance_id, "waiting_for_timer")
    clock.advance(seconds)  # the next recovery pass (recovery_interval, 1 s) finds the timer due


def _field(record: Any, name: str) -> Any:
    return record[name]  # the seeds read instances as mappings: instance['status']


async def wait_status(app: edda.EddaApp, instance_id: str, *wanted: str, timeout: float = 30.0) -> Any:
    """Poll ``app.storage.get_instance`` (the seeds' API) until the instance's status is one of ``wanted``."""
    wanted = wanted or ("completed", "failed", "cancelled")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    record = None
    while loop.time() < deadline:
        record = await app.storage.get_instance(instance_id)
        if record is not None and _field(record, "status") in wanted:
            return record
        await asyncio.sleep(0.02)
    status = None if record is None else _field(record, "status")
    raise AssertionError(f"instance {instance_id} did not reach {wanted} within {timeout}s (status: {status})")


async def result_of(app: edda.EddaApp, instance_id: str, *, timeout: float = 30.0) -> Any:
    """The instance's output once completed (``instance.get('output_data')`` as the seeds read it)."""
    record = await wait_status(app, instance_id, timeout=timeout)
    assert _field(record, "status") == "completed", f"{instance_id} ended {_field(record, 'status')}: {dict(record)}"
    return record.get("output_data")


@contextlib.contextmanager
def captured_stdout() -> Iterator[io.StringIO]:
    """Collect what the example prints while still showing it (for the test log)."""
    buffer = io.StringIO()
    real = sys.stdout

    class Tee(io.TextIOBase):
        def write(self, s: str) -> int:
            buffer.write(s)
            return real.write(s)

        def flush(self) -> None:
            real.flush()

    sys.stdout = Tee()
    try:
        yield buffer
    finally:
        sys.stdout = real


def in_order(text: str, *parts: str) -> None:
    """Assert that ``parts`` appear in ``text`` in this order."""
    pos = 0
    for part in parts:
        found = text.find(part, pos)
        assert found >= 0, f"expected {part!r} after position {pos} in:\n{text}"
        pos = found + len(part)


def env(name: str) -> str:
    return os.environ[name]
