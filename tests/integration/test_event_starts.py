"""A 202 guarantees what the event sets off: the workflows it starts (``event_handler=True``) and its ``on_event``
handlers are stored before the answer, so a server SIGKILLed right after the 202 still leads to exactly one start
and one handler run, on every backend; the same event sent again (same ``source`` and ``id``) starts nothing new."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from edda import EddaApp, WorkflowContext, wait_event, workflow
from tests.integration.databases import temporary_database

ROOT = Path(__file__).resolve().parents[2]
EVENT = {"specversion": "1.0", "type": "order_placed", "source": "/shop", "id": "evt-1", "data": {"order_id": "A-1"}}


@contextmanager
def server(db_url: str, effects: Path, *, block: bool) -> Iterator[tuple[subprocess.Popen[str], str]]:
    env = os.environ | {"EDDA_TEST_DB_URL": db_url, "EDDA_TEST_EFFECTS": str(effects), "BLOCK": "1" if block else "0"}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.event_starts_server"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        port = json.loads(proc.stdout.readline())["port"]
        yield proc, f"http://127.0.0.1:{port}/"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def counts(effects: Path) -> Counter[str]:
    return Counter(effects.read_text().splitlines()) if effects.exists() else Counter()


async def until(predicate: object, timeout: float = 30) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.05)


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    async with temporary_database(request.param, tmp_path) as url:
        async with EddaApp(db_url=url, run_workflows=False):
            pass
        yield url


@pytest.mark.timeout(120)
async def test_killed_right_after_the_202_the_next_process_starts_and_handles_once(db_url: str, tmp_path: Path) -> None:
    effects = tmp_path / "effects.txt"
    with server(db_url, effects, block=True) as (proc, url):
        async with httpx.AsyncClient() as client:
            answer = await client.post(url, json=EVENT, headers={"content-type": "application/cloudevents+json"})
        assert answer.status_code == 202
        proc.send_signal(signal.SIGKILL)  # right after the answer: the handler and the start had not run
    assert counts(effects) == Counter()

    with server(db_url, effects, block=False) as (_, url):
        await until(lambda: counts(effects) == Counter({"fulfil A-1": 1, "audit evt-1": 1}))
        async with httpx.AsyncClient() as client:  # the sender retries the same event: nothing new happens
            again = await client.post(url, json=EVENT, headers={"content-type": "application/cloudevents+json"})
        assert again.status_code == 202
        await asyncio.sleep(1.0)
    assert counts(effects) == Counter({"fulfil A-1": 1, "audit evt-1": 1})

    async with EddaApp(db_url=db_url, run_workflows=False) as app:
        page = await app.find_instances(workflow_name="order_placed")
    found = sorted((r.workflow_name, r.status) for r in page["instances"])
    assert found == [("edda.on_event.order_placed", "completed"), ("order_placed", "completed")]


@pytest.mark.timeout(120)
async def test_a_duplicate_event_starts_and_handles_nothing_new(db_url: str, tmp_path: Path) -> None:
    effects = tmp_path / "effects.txt"
    with server(db_url, effects, block=False) as (_, url):
        async with httpx.AsyncClient() as client:
            for _ in range(3):
                answer = await client.post(url, json=EVENT, headers={"content-type": "application/cloudevents+json"})
                assert answer.status_code == 202
            other = EVENT | {"id": "evt-2", "data": {"order_id": "A-2"}}
            assert (
                await client.post(url, json=other, headers={"content-type": "application/cloudevents+json"})
            ).status_code == 202
        await until(
            lambda: counts(effects) == Counter({"fulfil A-1": 1, "audit evt-1": 1, "fulfil A-2": 1, "audit evt-2": 1})
        )
        await asyncio.sleep(1.0)
    assert counts(effects) == Counter({"fulfil A-1": 1, "audit evt-1": 1, "fulfil A-2": 1, "audit evt-2": 1})


@workflow
async def dedupe_two_waits(ctx: WorkflowContext) -> list[str]:
    seen = []
    for _ in range(2):
        event = await wait_event(ctx, "dedupe_tick")
        seen.append(event.metadata.id)
    return seen


@pytest.mark.timeout(60)
async def test_a_duplicate_event_satisfies_no_second_wait(db_url: str) -> None:
    tick = {"specversion": "1.0", "type": "dedupe_tick", "source": "/clock"}
    async with EddaApp(db_url=db_url) as app:
        waiter = await dedupe_two_waits.start()
        await app.handle_cloudevent(tick | {"id": "t-1", "eddainstanceid": waiter})
        for _ in range(2):  # a sender's retries: the same source and id
            await app.handle_cloudevent(tick | {"id": "t-1", "eddainstanceid": waiter})
        await asyncio.sleep(0.5)
        assert (await app.get_instance(waiter))["status"] == "waiting_for_event"  # the second wait still waits
        await app.handle_cloudevent(tick | {"id": "t-2", "eddainstanceid": waiter})
        assert await app.wait_for_result(waiter, timeout=20) == ["t-1", "t-2"]
