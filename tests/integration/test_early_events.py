"""Events that arrive before the workflow waits for them are not lost (docs/waiting.md, "What a wait sees").

A wait sees every matching event or message published after the instance started, so ``start()`` followed at once
by a send, or a request whose reply comes back before the workflow reaches ``wait_event``, never strands it. These
tests send with zero delay, in loops, on every backend; across processes; and across a SIGKILL.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from edda import (
    EddaApp,
    WorkflowContext,
    activity,
    publish,
    receive,
    send_event,
    wait_event,
    workflow,
)
from tests.integration.databases import temporary_database

BACKENDS = ["memory", "sqlite", "postgresql", "mysql"]
LOOPS = 200
WORKER = Path(__file__).with_name("early_worker.py")


@activity
async def on_the_way(ctx: WorkflowContext, n: int) -> int:
    await asyncio.sleep(0.001 * (n % 3))  # the workflow is still on its way to its wait when the event comes
    return n


@workflow
async def waits_for_payment(ctx: WorkflowContext, n: int) -> dict:
    await on_the_way(ctx, n)
    event = await wait_event(ctx, "early.payment")
    return {"n": n, "got": event.data["n"]}


@workflow
async def waits_for_message(ctx: WorkflowContext, n: int) -> dict:
    await on_the_way(ctx, n)
    message = await receive(ctx, "early.orders")
    return {"n": n, "got": message.data["n"]}


async def _db(kind: str, tmp_path: Path) -> Any:
    if kind == "memory":

        class _Memory:
            async def __aenter__(self) -> str:
                return "memory://"

            async def __aexit__(self, *exc: object) -> None:
                return None

        return _Memory()
    return temporary_database(kind, tmp_path)


def _event(n: int, target: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {"specversion": "1.0", "type": "early.payment", "source": "test", "id": f"e-{n}"}
    if target is not None:
        event["eddainstanceid"] = target
    return event | {"data": {"n": n}}


@pytest.mark.parametrize("kind", BACKENDS)
@pytest.mark.parametrize("shape", ["broadcast-event", "targeted-event", "channel-message"])
async def test_start_then_send_with_zero_delay_is_never_lost(kind: str, shape: str, tmp_path: Path) -> None:
    async with await _db(kind, tmp_path) as db_url, EddaApp(service_name="early", db_url=db_url) as app:
        ids = []
        for n in range(LOOPS):
            if shape == "channel-message":
                iid = await waits_for_message.start(n=n)
                await publish(app, "early.orders", {"n": n})
            else:
                iid = await waits_for_payment.start(n=n)
                await app.handle_cloudevent(_event(n, iid if shape == "targeted-event" else None))
            ids.append(iid)
        results = [await app.wait_for_result(iid, timeout=60) for iid in ids]
    # Untargeted events are broadcast: each instance takes the first one published after it started, its own.
    assert results == [{"n": n, "got": n} for n in range(LOOPS)]


@workflow
async def pays(ctx: WorkflowContext, order_id: str) -> dict:
    await send_event("early.payment.requested", "orders", {"order_id": order_id})
    event = await wait_event(ctx, "early.payment.completed")
    return event.data


@pytest.mark.parametrize("kind", BACKENDS)
async def test_a_reply_that_comes_before_the_wait_is_received(kind: str, tmp_path: Path) -> None:
    # The seed README's payment_workflow: the payment service answers while send_event is still returning, before
    # the workflow has reached wait_event.
    answered: list[str] = []
    async with await _db(kind, tmp_path) as db_url, EddaApp(service_name="early", db_url=db_url) as app:

        @app.on_event("early.payment.requested")
        async def payment_service(event: Any) -> None:
            order_id = event.data["order_id"]
            answered.append(order_id)
            await app.handle_cloudevent(
                {
                    "specversion": "1.0",
                    "type": "early.payment.completed",
                    "source": "payments",
                    "id": f"paid-{order_id}",
                    "data": {"order_id": order_id, "status": "paid"},
                }
            )

        ids, results = [], []
        for n in range(20):  # one at a time: concurrent instances would each also see the others' broadcast replies
            ids.append(await pays.start(order_id=f"o-{n}"))
            results.append(await app.wait_for_result(ids[-1], timeout=30))
        history = await app.storage.get_history(ids[0])
    assert answered == [f"o-{n}" for n in range(20)]  # each request was sent once, and answered at once
    assert results == [{"order_id": f"o-{n}", "status": "paid"} for n in range(20)]
    sent = [e for e in history if e.event_type == "EventSent"]
    assert [e.event_data["event_type"] for e in sent] == ["early.payment.requested"]


def _worker(db_url: str, *args: str, stdin: Any = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), db_url, *args],
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )


@pytest.mark.parametrize("kind", ["postgresql", "mysql"])
async def test_started_in_another_process_then_sent_from_this_one(kind: str, tmp_path: Path) -> None:
    # The worker process starts each instance and runs it; this process sends the event the moment start() has
    # returned over there, without defining the workflow itself.
    count = 40
    async with temporary_database(kind, tmp_path) as db_url:
        with _worker(db_url, "serve", stdin=subprocess.PIPE) as proc:
            assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
            try:
                async with EddaApp(service_name="sender", db_url=db_url) as app:
                    ids = []
                    for n in range(count):
                        proc.stdin.write("start\n")
                        proc.stdin.flush()
                        iid = (await asyncio.to_thread(proc.stdout.readline)).strip()
                        assert iid, proc.stderr.read()
                        await app.handle_cloudevent(
                            {
                                "specversion": "1.0",
                                "type": "early.paid",
                                "source": "t",
                                "id": f"p-{n}",
                                "data": {"n": n},
                            }
                        )
                        ids.append(iid)
                    proc.stdin.close()
                    line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 90)
                errors = "" if line else proc.stderr.read()
            finally:
                if proc.poll() is None:
                    proc.kill()
    assert line, errors[-3000:]
    results = json.loads(line)
    assert [results[iid]["paid"] for iid in ids] == [{"n": n} for n in range(count)]


@pytest.mark.parametrize("kind", ["sqlite", "postgresql", "mysql"])
async def test_an_early_event_survives_a_sigkill_before_the_wait(kind: str, tmp_path: Path) -> None:
    async with temporary_database(kind, tmp_path) as db_url:
        with _worker(db_url, "crash-1") as first:
            assert first.stdout is not None and first.stderr is not None
            line = await asyncio.wait_for(asyncio.to_thread(first.stdout.readline), 60)
            os.kill(first.pid, signal.SIGKILL)  # the event is stored; the workflow never reached its wait
            errors = "" if line.startswith("sent ") else first.stderr.read()
        assert line.startswith("sent "), errors[-3000:]
        iid = line.split()[1]
        with _worker(db_url, "crash-2", iid) as second:
            out, err = await asyncio.to_thread(second.communicate, timeout=90)
    assert second.returncode == 0, err[-3000:]
    result = json.loads(out.strip().splitlines()[-1])
    assert result == {"order_id": "o-crash", "paid": {"amount": 7}, "event_id": "pay-1"}


@activity
async def takes_its_time(ctx: WorkflowContext, gate_name: str) -> str:
    await GATES[gate_name].wait()  # a first activity that would take minutes
    return "done"


@workflow
async def slow_start(ctx: WorkflowContext, gate_name: str) -> dict:
    await takes_its_time(ctx, gate_name)
    event = await wait_event(ctx, "early.slow.go")
    return event.data


GATES: dict[str, asyncio.Event] = {}


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_start_returns_while_the_first_activity_is_still_running(kind: str, tmp_path: Path) -> None:
    gate = GATES[kind] = asyncio.Event()
    async with await _db(kind, tmp_path) as db_url, EddaApp(service_name="early", db_url=db_url) as app:
        iid = await slow_start.start(gate_name=kind)  # returns although the first activity cannot finish yet
        record = await app.get_instance(iid)
        assert record is not None and record.status == "running"
        await app.handle_cloudevent(
            {"specversion": "1.0", "type": "early.slow.go", "source": "t", "id": "go-1", "data": {"ok": True}}
        )
        history = await app.storage.get_history(iid)
        assert history == []  # the activity is still running: nothing of it is recorded yet
        gate.set()
        assert await app.wait_for_result(iid, timeout=30) == {"ok": True}
