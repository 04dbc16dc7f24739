"""Viewer at scale: the instance list and a detail page with 100,000 instances in the database.

    python -m benchmarks.viewer_scale                      # SQLite and PostgreSQL, 100,000 instances, 7 runs
    python -m benchmarks.viewer_scale --db sqlite --instances 20000 --runs 3

Three real instances (completed, failed, waiting) are run through an ``EddaApp``; their rows and histories are the
templates that bulk SQL copies 100,000 times (``executemany`` on SQLite, ``COPY`` on PostgreSQL), with ids, times,
workflow names and inputs varied. Then the viewer's data access (``edda_viewer._data.ViewerData``, what the pages
call, on a client app as the ``edda-viewer`` command uses) is timed, median of ``--runs`` after one warm-up, and the
pages themselves are fetched over HTTP from a real ``edda-viewer`` process: the server time of a page, which
includes building it (the browser's rendering is not). PostgreSQL databases are made and dropped as the other
benchmarks do (``EDDA_BENCH_PG_URL``, see :mod:`benchmarks.databases`); URLs are never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from benchmarks.databases import PgAdmin, fresh_database, redact
from edda import (
    EddaApp,
    TerminalError,
    WorkflowContext,
    WorkflowFailedError,
    activity,
    compensation,
    on_failure,
    wait_event,
    workflow,
)

STEP = timedelta(seconds=1)  # between two seeded instances' start times
CHUNK = 10_000


@compensation
async def scale_release(ctx: WorkflowContext, item: str) -> None:
    return None


@activity
@on_failure(scale_release)
async def scale_reserve(ctx: WorkflowContext, item: str) -> dict:
    return {"item": item, "reserved": True}


@activity
async def scale_charge(ctx: WorkflowContext, order_id: str, amount: float) -> dict:
    if amount > 1000:
        raise TerminalError(f"payment of {amount} declined")
    return {"transaction_id": f"TX-{order_id}"}


@activity
async def scale_ship(ctx: WorkflowContext, order_id: str) -> str:
    return f"TRACK-{order_id}"


@workflow
async def scale_order(ctx: WorkflowContext, order_id: str, customer: dict, amount: float, wait: bool = False) -> dict:
    await scale_reserve(ctx, order_id)
    payment = await scale_charge(ctx, order_id, amount)
    if wait:
        await wait_event(ctx, f"scale.approved.{order_id}")
    tracking = await scale_ship(ctx, order_id)
    return {"order_id": order_id, "transaction": payment["transaction_id"], "tracking": tracking}


TEMPLATES = {"completed": ("tpl-completed", 10.0, False), "failed": ("tpl-failed", 5000.0, False)}
TEMPLATES["waiting"] = ("tpl-waiting", 10.0, True)


async def run_templates(url: str) -> None:
    async with EddaApp(service_name="viewer-scale-seed", db_url=url) as app:
        for iid, amount, wait in TEMPLATES.values():
            await scale_order.start(instance_id=iid, order_id=iid, customer={"id": "C-0"}, amount=amount, wait=wait)
            if wait:
                for _ in range(500):
                    record = await app.get_instance(iid)
                    if record is not None and record.status == "waiting_for_event":
                        break
                    await asyncio.sleep(0.01)
                continue
            try:
                await app.wait_for_result(iid, timeout=30)
            except WorkflowFailedError:
                pass


def kind_of(i: int) -> str:
    return "failed" if i % 50 == 0 else "waiting" if i % 100 == 1 else "completed"


def instance_id(i: int) -> str:
    return f"ORD-{i:07d}"


def varied(i: int, template: dict[str, Any], base: Any, step: Any) -> dict[str, Any]:
    """A copy of ``template`` as instance ``i``: id, times, workflow name and input changed."""
    row = dict(template)
    created = base + step * i
    offset = created - template["created_at"]
    row["instance_id"] = instance_id(i)
    row["workflow_name"] = "scale_refund" if i % 100 == 7 else "scale_order"
    row["input_data"] = json.dumps(
        {"order_id": instance_id(i), "customer": {"id": f"C-{i % 1000:04d}"}, "amount": float(i % 500), "wait": False},
        separators=(",", ":"),
    )
    for column in ("created_at", "updated_at", "completed_at"):
        if row.get(column) is not None:
            row[column] = row[column] + offset
    return row


def history_of(i: int, template_rows: list[dict[str, Any]], base: Any, step: Any) -> list[dict[str, Any]]:
    offset = base + step * i - template_rows[0]["created_at"] if template_rows else None
    rows = []
    for entry in template_rows:
        row = dict(entry)
        row["instance_id"] = instance_id(i)
        row["created_at"] = entry["created_at"] + offset
        rows.append(row)
    return rows


def seed_sqlite(path: str, count: int) -> None:
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        templates = {k: dict(conn.execute("SELECT * FROM edda_instances WHERE instance_id = ?", (v[0],)).fetchone())
                     for k, v in TEMPLATES.items()}  # fmt: skip
        history_columns = [
            "instance_id",
            "iteration",
            "activity_id",
            "event_type",
            "event_data",
            "payload",
            "created_at",
        ]
        histories = {
            k: [dict(r) for r in conn.execute(
                f"SELECT {', '.join(history_columns)} FROM edda_history WHERE instance_id = ? ORDER BY seq", (v[0],))]
            for k, v in TEMPLATES.items()
        }  # fmt: skip
        columns = list(templates["completed"])
        base = int((datetime.now(UTC) - STEP * (count + 10)).timestamp() * 1_000_000)
        step = int(STEP.total_seconds() * 1_000_000)
        insert_instance = f"INSERT INTO edda_instances ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        insert_history = f"INSERT INTO edda_history ({', '.join(history_columns)}) VALUES ({', '.join('?' * 7)})"
        for start in range(0, count, CHUNK):
            rows, events = [], []
            for i in range(start, min(count, start + CHUNK)):
                kind = kind_of(i)
                rows.append([varied(i, templates[kind], base, step)[c] for c in columns])
                events += [[e[c] for c in history_columns] for e in history_of(i, histories[kind], base, step)]
            with conn:
                conn.executemany(insert_instance, rows)
                conn.executemany(insert_history, events)
        conn.execute("ANALYZE")
    finally:
        conn.close()


async def seed_postgres(url: str, count: int) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        templates = {k: dict(await conn.fetchrow("SELECT * FROM edda_instances WHERE instance_id = $1", v[0]))
                     for k, v in TEMPLATES.items()}  # fmt: skip
        history_columns = [
            "instance_id",
            "iteration",
            "activity_id",
            "event_type",
            "event_data",
            "payload",
            "created_at",
        ]
        histories = {
            k: [dict(r) for r in await conn.fetch(
                f"SELECT {', '.join(history_columns)} FROM edda_history WHERE instance_id = $1 ORDER BY seq", v[0])]
            for k, v in TEMPLATES.items()
        }  # fmt: skip
        columns = list(templates["completed"])
        base = datetime.now(UTC) - STEP * (count + 10)
        for start in range(0, count, CHUNK):
            rows, events = [], []
            for i in range(start, min(count, start + CHUNK)):
                kind = kind_of(i)
                rows.append(tuple(varied(i, templates[kind], base, STEP)[c] for c in columns))
                events += [tuple(e[c] for c in history_columns) for e in history_of(i, histories[kind], base, STEP)]
            await conn.copy_records_to_table("edda_instances", records=rows, columns=columns)
            await conn.copy_records_to_table("edda_history", records=events, columns=history_columns)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def timed(operation: Callable[[], Awaitable[Any]], runs: int) -> tuple[float, float]:
    """Median and maximum wall time in ms of ``operation``, after one warm-up run."""
    await operation()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        await operation()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), max(samples)


async def measure_data(url: str, count: int, runs: int) -> dict[str, tuple[float, float]]:
    from edda_viewer._data import ViewerData
    from edda_viewer._diagram import diagram_source
    from edda_viewer._filters import ListFilters
    from edda_viewer._timeline import build_timeline, compensations, messages

    async with EddaApp(service_name="viewer-scale", db_url=url, run_workflows=False) as app:
        data = ViewerData(app)
        middle = await app.get_instance(instance_id(count // 2))
        assert middle is not None
        cursor = (middle.created_at, middle.instance_id)
        window = ListFilters(started_after=middle.created_at - timedelta(hours=1), started_before=middle.created_at)

        async def detail(iid: str) -> None:
            found = await data.instance_detail(iid)
            assert found is not None
            steps = build_timeline(found.history)
            assert steps and compensations(found.history) is not None and messages(found.history) is not None
            assert diagram_source(found.workflow, found.record, found.history) is not None

        async def page(filters: ListFilters, cursor: Any = None, expect: int | None = None) -> None:
            rows = (await data.list_instances(filters, cursor)).rows
            assert expect is None or len(rows) == expect, (filters, len(rows))

        ops: dict[str, Callable[[], Awaitable[Any]]] = {
            "list: first page (25 rows)": lambda: page(ListFilters(), expect=25),
            f"list: the page after row {count // 2:,} (keyset cursor)": lambda: page(ListFilters(), cursor, 25),
            "list: status = failed": lambda: page(ListFilters(status="failed"), expect=min(25, count // 50)),
            "list: search a workflow name (1% of rows)": lambda: page(
                ListFilters(search="refund"), expect=min(25, count // 100)
            ),
            "list: search an id substring (1 row)": lambda: page(ListFilters(search=f"{count // 3:07d}"), expect=1),
            "list: input customer.id = C-0042 (0.1% of rows)": lambda: page(
                ListFilters(input_filters=(("customer.id", "C-0042"),)), expect=min(25, count // 1000)
            ),
            "list: started in a one-hour window": lambda: page(window, expect=25),
            "detail: a failed instance (record, history, timeline, diagram)": lambda: detail(instance_id(50)),
            "detail: a completed instance": lambda: detail(instance_id(count // 2 + 2)),
        }
        return {name: await timed(op, runs) for name, op in ops.items()}


def measure_http(url: str, count: int, runs: int) -> dict[str, tuple[float, float]]:
    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "NICEGUI_"))} | {"EDDA_DB_URL": url}
    args = [sys.executable, "-m", "edda_viewer.cli", "-m", "benchmarks.viewer_scale", "--port", str(port)]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                httpx.get(base + "/", timeout=5)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        results = {}
        pages = (
            ("GET / (the list page)", "/", instance_id(count - 1)),
            ("GET /workflow/<id> (a detail page)", f"/workflow/{instance_id(50)}", "scale_charge"),
        )
        for name, path, expected in pages:
            samples = []
            with httpx.Client(base_url=base, timeout=30) as client:
                assert client.get(path).status_code == 200
                for _ in range(runs):
                    started = time.perf_counter()
                    response = client.get(path)
                    samples.append((time.perf_counter() - started) * 1000)
                    assert response.status_code == 200 and expected in response.text, path
            results[name] = (statistics.median(samples), max(samples))
        return results
    finally:
        proc.terminate()
        proc.wait(timeout=30)


async def bench(db: str, count: int, runs: int, pg: PgAdmin | None) -> dict[str, tuple[float, float]]:
    async with fresh_database(db, pg) as provisioned:
        started = time.perf_counter()
        await run_templates(provisioned.url)
        if db == "sqlite":
            await asyncio.to_thread(seed_sqlite, provisioned.name, count)
        else:
            await seed_postgres(provisioned.url, count)
        print(f"  {db}: seeded {count:,} instances in {time.perf_counter() - started:.1f} s", flush=True)
        results = await measure_data(provisioned.url, count, runs)
        results |= await asyncio.to_thread(measure_http, provisioned.url, count, runs)
        return results


def table(results: dict[str, dict[str, tuple[float, float]]]) -> str:
    dbs = list(results)
    names = list(next(iter(results.values())))
    lines = ["| operation | " + " | ".join(f"{d} median (max) ms" for d in dbs) + " |"]
    lines.append("| --- |" + " ---: |" * len(dbs))
    for name in names:
        cells = [f"{results[d][name][0]:.1f} ({results[d][name][1]:.1f})" for d in dbs]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


async def main_async(ns: argparse.Namespace) -> int:
    dbs = ["sqlite", "postgres"] if ns.db == "both" else [ns.db]
    pg = await PgAdmin.connect() if "postgres" in dbs else None
    results: dict[str, dict[str, tuple[float, float]]] = {}
    try:
        for db in dbs:
            results["SQLite" if db == "sqlite" else "PostgreSQL"] = await bench(db, ns.instances, ns.runs, pg)
    except Exception as exc:
        print(f"viewer_scale: {type(exc).__name__}: {redact(str(exc))}", file=sys.stderr)
        return 1
    finally:
        if pg is not None:
            await pg.close()
    print(f"\n{ns.instances:,} instances, median of {ns.runs} runs after a warm-up:\n")
    print(table(results))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.viewer_scale", description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--instances", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=7)
    return asyncio.run(main_async(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
