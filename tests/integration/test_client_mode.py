"""``EddaApp(run_workflows=False)``: a client (a viewer, a CLI, a web front end) stores and cancels instances and
reads their state; worker processes that define the workflows run them. Each test runs a real worker process on a
real database (SQLite file, PostgreSQL, MySQL) beside a client app in the test process."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import pytest

from edda import EddaApp, InstanceStatus
from tests.integration.client_mode_flows import client_booking, client_greet, client_slow
from tests.integration.databases import temporary_database

ROOT = Path(__file__).resolve().parents[2]
KINDS = ["sqlite", "postgresql", "mysql"]


def effects(path: Path) -> Counter[tuple[str, int]]:
    if not path.exists():
        return Counter()
    return Counter((what, int(pid)) for what, pid in (line.split() for line in path.read_text().splitlines()))


@contextmanager
def worker_process(db_url: str, effects_file: Path) -> Iterator[subprocess.Popen[str]]:
    env = {**os.environ, "EDDA_TEST_DB_URL": db_url, "EDDA_TEST_EFFECTS": str(effects_file), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.client_mode_worker"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        yield proc
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


@asynccontextmanager
async def client(db_url: str) -> AsyncIterator[EddaApp]:
    async with EddaApp(service_name="client", db_url=db_url, run_workflows=False) as app:
        yield app


async def wait_for_status(app: EddaApp, instance_id: str, status: str, timeout: float = 30) -> None:
    async with asyncio.timeout(timeout):
        while True:
            record = await app.get_instance(instance_id)
            if record is not None and record.status == status:
                return
            await asyncio.sleep(0.05)


@pytest.fixture(params=KINDS)
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    async with temporary_database(request.param, tmp_path) as url:
        async with EddaApp(db_url=url, run_workflows=False):  # create the schema before the worker starts
            pass
        yield url


@pytest.mark.timeout(90)
async def test_a_client_stores_and_a_worker_runs(db_url: str, tmp_path: Path) -> None:
    effects_file = tmp_path / "effects.txt"
    with worker_process(db_url, effects_file) as worker:
        async with client(db_url) as app:
            instance_id = await client_greet.start(name="ada")
            assert await app.wait_for_result(instance_id, timeout=30) == "hello ada"
            assert app.worker.runs == {} and app.worker.tasks == {}
    assert effects(effects_file) == Counter({("greet:ada", worker.pid): 1})


@pytest.mark.timeout(90)
async def test_without_a_worker_the_instance_waits_for_one(db_url: str, tmp_path: Path) -> None:
    effects_file = tmp_path / "effects.txt"
    async with client(db_url) as app:
        instance_id = await app.start_workflow("client_greet", {"name": "bob"})
        await asyncio.sleep(1.0)
        record = await app.get_instance(instance_id)
        assert record is not None and record.status == InstanceStatus.RUNNING
        assert await app.storage.get_history(instance_id) == []
        assert not effects_file.exists()
        with worker_process(db_url, effects_file) as worker:
            assert await app.wait_for_result(instance_id, timeout=30) == "hello bob"
    assert effects(effects_file) == Counter({("greet:bob", worker.pid): 1})


@pytest.mark.timeout(90)
async def test_a_client_cancels_and_the_worker_compensates(db_url: str, tmp_path: Path) -> None:
    effects_file = tmp_path / "effects.txt"
    with worker_process(db_url, effects_file) as worker:
        async with client(db_url) as app:
            instance_id = await client_booking.start(room="r1")
            await wait_for_status(app, instance_id, InstanceStatus.WAITING_FOR_EVENT)
            await app.cancel_workflow(instance_id)
            await wait_for_status(app, instance_id, InstanceStatus.CANCELLED)
    assert effects(effects_file) == Counter({("reserve:r1", worker.pid): 1, ("release:r1", worker.pid): 1})


@pytest.mark.timeout(90)
async def test_a_client_takes_no_lease_from_a_running_worker(db_url: str, tmp_path: Path) -> None:
    effects_file = tmp_path / "effects.txt"
    with worker_process(db_url, effects_file) as worker:
        async with client(db_url) as first:
            instance_id = await client_slow.start(seconds=2.0)
            await asyncio.sleep(0.5)
            held = await first.get_instance(instance_id)
            assert held is not None and held.owner_id is not None and held.owner_id.startswith("client-mode-worker")
            async with client(db_url) as second:  # on SQLite, a worker would take over every foreign lease here
                record = await second.get_instance(instance_id)
                assert record is not None and (record.owner_id, record.lease_epoch) == (held.owner_id, held.lease_epoch)
                assert await second.resume_workflow(instance_id) is False
                assert await second.wait_for_result(instance_id, timeout=30) == 2.0
    assert effects(effects_file) == Counter({("slow", worker.pid): 1})
