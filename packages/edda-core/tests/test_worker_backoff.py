"""The worker's calm failure handling (issue 14, finding 3): capped jittered backoff, a rate-limited log, and a
recovery loop that waits after a failed pass instead of spinning on due timers. Time is injected: no real waits."""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import UTC, datetime
from typing import Any

import pytest

from edda import EddaApp
from edda._backoff import Backoff, LogThrottle, failure_key
from edda.exceptions import StorageUnavailableError
from edda.storage.memory import InMemoryStorage


def test_backoff_doubles_up_to_its_cap_with_jitter_in_the_upper_half() -> None:
    backoff = Backoff(0.5, 4.0, rng=random.Random(7))
    delays = [backoff.failed() for _ in range(8)]
    ceilings = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True)), delays
    assert len(set(delays)) == len(delays)  # jittered: workers failing together do not retry in step
    assert backoff.succeeded() == 8
    assert backoff.failed() <= 0.5  # starts over after a success


def test_log_throttle_logs_each_distinct_failure_once_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    now = [100.0]
    throttle = LogThrottle(logging.getLogger("edda.test.throttle"), interval=60, monotonic=lambda: now[0])
    caplog.set_level(logging.INFO, logger="edda.test.throttle")
    read_only = failure_key("recovery", StorageUnavailableError("read-only"))
    lost = failure_key("recovery", StorageUnavailableError("connection lost"))
    logged = [throttle.log(logging.WARNING, read_only, "pass failed: %s", "read-only") for _ in range(500)]
    assert logged == [True] + [False] * 499
    assert throttle.log(logging.WARNING, lost, "pass failed: %s", "lost") is True  # another failure: its own line
    now[0] += 59.9
    assert throttle.log(logging.WARNING, read_only, "pass failed: %s", "read-only") is False
    now[0] += 0.1
    assert throttle.log(logging.WARNING, read_only, "pass failed: %s", "read-only") is True
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "pass failed: read-only",
        "pass failed: lost",
        "pass failed: read-only (500 more like this in the last 60 s were not logged)",
    ]


def test_log_throttle_keeps_a_bounded_number_of_keys() -> None:
    now = [0.0]
    throttle = LogThrottle(logging.getLogger("edda.test.bounded"), interval=60, monotonic=lambda: now[0])
    for n in range(5000):
        throttle.log(logging.DEBUG, ("site", str(n)), "x")
    assert len(throttle._seen) <= LogThrottle._MAX_KEYS


class RefusingStorage(InMemoryStorage):
    """Memory storage whose claims fail while ``refusing`` (a database that accepts reads but refuses writes), with
    a timer always due then (before the fix, that scheduled the next pass at once: the loop spun)."""

    def __init__(self) -> None:
        super().__init__()
        self.refusing = False
        self.claims = 0

    async def claim_runnable_of(self, workflow_names: Any, **kwargs: Any) -> Any:
        self.claims += 1
        if self.refusing:
            raise StorageUnavailableError("Cannot write to the test database (read-only)")
        return await super().claim_runnable_of(workflow_names, **kwargs)

    async def next_wake_at_of(self, workflow_names: Any) -> datetime | None:
        return datetime(2000, 1, 1, tzinfo=UTC) if self.refusing else await super().next_wake_at_of(workflow_names)


async def test_recovery_loop_waits_after_each_failed_pass(caplog: pytest.LogCaptureFixture) -> None:
    storage = RefusingStorage()
    waits: list[float] = []

    async def recorded_wait(delay: float) -> None:  # the waits are checked, not waited
        waits.append(delay)
        await asyncio.sleep(0)

    app = EddaApp(service_name="backoff", storage=storage, recovery_interval=0.05)
    await app.initialize()
    try:
        caplog.set_level(logging.INFO, logger="edda")
        app.worker.pass_pacer.sleep = recorded_wait
        app.worker.pass_pacer.backoff = Backoff(0.05, 10.0, rng=random.Random(3))
        storage.refusing = True
        app.worker.wake_recovery()
        while storage.claims < 15:
            await asyncio.sleep(0)
        assert len(waits) >= 14  # every failed pass was followed by a wait: none came straight after another
        storage.refusing = False
        failed = len(waits)
        while storage.claims <= failed + 1:
            await asyncio.sleep(0)
    finally:
        await app.shutdown()
    ceilings = [min(0.05 * 2**n, 10.0) for n in range(failed)]
    assert all(c / 2 <= w <= c for w, c in zip(waits, ceilings, strict=True)), waits
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "read-only" in warnings[0], warnings
    assert any("Recovery pass works again, after" in r.getMessage() for r in caplog.records)


class HistoryReadFails(InMemoryStorage):
    """Memory storage whose first ``failures`` history reads fail as a lost connection does."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.reads: list[float] = []

    async def get_history(self, instance_id: str, *, iteration: int | None = None) -> Any:
        self.reads.append(asyncio.get_running_loop().time())
        if self.failures > 0:
            self.failures -= 1
            raise StorageUnavailableError("connection lost while reading the history")
        return await super().get_history(instance_id, iteration=iteration)


async def test_a_failed_history_read_at_run_start_backs_off_per_instance_and_warns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from edda import wait_event, workflow

    @workflow
    async def backoff_history_read(ctx: Any) -> str:
        await wait_event(ctx, "backoff.go")
        return "done"

    storage = HistoryReadFails(failures=0)
    caplog.set_level(logging.INFO, logger="edda")
    async with EddaApp(storage=storage) as app:
        iid = await backoff_history_read.start()
        for _ in range(100):
            if (await app.get_instance(iid))["status"] == "waiting_for_event":
                break
            await asyncio.sleep(0.01)
        storage.failures, storage.reads = 2, []
        event = {"specversion": "1.0", "type": "backoff.go", "source": "/t", "id": "g-1", "eddainstanceid": iid}
        await app.handle_cloudevent(event)  # wakes it: its run reads the history, which fails twice
        assert await app.wait_for_result(iid, timeout=10) == "done"
    gaps = [b - a for a, b in zip(storage.reads, storage.reads[1:], strict=False)]
    assert len(storage.reads) == 3 and gaps[0] >= 0.45 and gaps[1] >= 0.95, gaps  # 0.5 s, then 1 s: per instance
    logged = [r for r in caplog.records if "reading the history" in r.getMessage()]
    assert logged and all(r.levelno == logging.WARNING for r in logged)  # a storage fault, not an ERROR traceback


async def test_a_start_retried_after_its_lost_reply_runs_at_once() -> None:
    """The create committed but its reply was lost; the caller retries start() with the same id. The instance is
    leased by this very app, so it must run now, not when its lease runs out (30 s)."""
    from edda import workflow
    from edda.testing.faults import FaultInjectingStorage, FaultRates

    @workflow
    async def lost_reply_start(ctx: Any, n: int) -> int:
        return n + 1

    storage = FaultInjectingStorage(
        InMemoryStorage(), per_call={"create_instance": FaultRates(lost_after=1.0)}, max_faults=1
    )
    async with EddaApp(storage=storage) as app:
        with pytest.raises(StorageUnavailableError):
            await lost_reply_start.start(instance_id="lost-reply", n=1)
        assert (await app.get_instance("lost-reply"))["status"] == "running"  # it was created, and leased here
        assert await lost_reply_start.start(instance_id="lost-reply", n=1) == "lost-reply"
        assert await app.wait_for_result("lost-reply", timeout=5) == 2
