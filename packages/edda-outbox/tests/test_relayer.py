"""The relayer against a real HTTP receiver on loopback, with outbox rows written through the storage SPI."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from edda.storage.memory import InMemoryStorage
from edda_outbox import OutboxRelayer

FAST = {"poll_interval": 0.05, "backoff_base": 0.01, "backoff_max": 0.05}


def relayer_for(storage: Any, url: str, **options: Any) -> OutboxRelayer:
    return OutboxRelayer(storage, url, **(FAST | options))


async def statuses(storage: Any) -> dict[str, str]:
    return {e.event_id: e.status for e in await storage.list_outbox(limit=10_000)}


async def all_finished(storage: Any) -> bool:
    return all(e.status != "pending" for e in await storage.list_outbox(limit=10_000))


def assert_in_order(ids: list[str], expected: dict[str, list[str]]) -> None:
    """Per instance, the first arrival of each id follows commit order (duplicates allowed after the first)."""
    first_seen: list[str] = list(dict.fromkeys(ids))
    for instance_ids in expected.values():
        positions = [first_seen.index(i) for i in instance_ids]
        assert positions == sorted(positions), f"out of order: {instance_ids}"


async def fill(kit: Any, storage: Any, instances: int, per_instance: int) -> dict[str, list[str]]:
    expected: dict[str, list[str]] = {}
    for i in range(instances):
        ids = [f"i{i}-e{k}" for k in range(per_instance)]
        await kit.put_events(storage, f"inst-{i}", [kit.new_event(e, {"n": k}) for k, e in enumerate(ids)])
        expected[f"inst-{i}"] = ids
    return expected


async def test_every_event_is_published_once_in_order(kit: Any, storage: Any, receiver: Any, broker: str) -> None:
    expected = await fill(kit, storage, instances=8, per_instance=6)
    relayer = relayer_for(storage, broker)
    await relayer.start()
    await kit.wait_until(lambda: all_finished(storage))
    await relayer.stop()
    assert sorted(receiver.ids()) == sorted(i for ids in expected.values() for i in ids)
    assert len(receiver.requests) == 48  # no duplicates
    assert_in_order(receiver.ids(), expected)
    events = await storage.list_outbox(limit=100)
    assert {e.status for e in events} == {"published"}
    assert all(e.attempts == 1 and e.published_at is not None and e.claimed_by is None for e in events)


async def test_receiver_down_then_up(kit: Any, storage: Any, receiver: Any) -> None:
    port = kit.free_port()
    expected = await fill(kit, storage, instances=3, per_instance=4)
    relayer = relayer_for(storage, f"http://127.0.0.1:{port}/events", max_retries=100)
    await relayer.start()

    async def retried() -> bool:
        return any(e.attempts >= 2 for e in await storage.list_outbox(limit=100))

    await kit.wait_until(retried)  # nobody listening: connection refused, retried with backoff
    assert receiver.requests == []
    async with kit.serve(receiver, port=port):
        await kit.wait_until(lambda: all_finished(storage))
    await relayer.stop()
    assert set((await statuses(storage)).values()) == {"published"}
    assert sorted(receiver.ids()) == sorted(i for ids in expected.values() for i in ids)
    assert len(receiver.requests) == 12
    assert_in_order(receiver.ids(), expected)
    errors = [e.last_error for e in await storage.list_outbox(limit=100) if e.attempts > 1]
    assert errors and all("ConnectError" in (err or "") for err in errors)


async def test_intermittent_503_and_429_are_retried(kit: Any, storage: Any, receiver: Any, broker: str) -> None:
    rng = random.Random(7)

    async def flaky(delivery: Any, n: int) -> Any:
        roll = rng.random()
        if roll < 0.3:
            return 503
        if roll < 0.4:
            return 429, {"retry-after": "0"}
        if roll < 0.45:
            return 408
        return 200

    receiver.behaviour = flaky
    expected = await fill(kit, storage, instances=10, per_instance=5)
    relayer = relayer_for(storage, broker, max_retries=50)
    await relayer.start()
    await kit.wait_until(lambda: all_finished(storage), timeout=30)
    await relayer.stop()
    assert set((await statuses(storage)).values()) == {"published"}
    accepted = receiver.ids()
    assert sorted(accepted) == sorted(i for ids in expected.values() for i in ids)  # each accepted exactly once
    assert len(receiver.requests) > len(accepted)  # there were refusals, and they were retried
    assert_in_order(accepted, expected)
    assert_in_order(receiver.ids(accepted=False), expected)  # nothing overtook a refused event of its instance


async def test_timeouts_cause_duplicates_with_the_same_id(kit: Any, storage: Any, receiver: Any, broker: str) -> None:
    async def slow_first_time(delivery: Any, n: int) -> int:
        if delivery.event["data"]["n"] == 1 and n == 1:
            await asyncio.sleep(1.0)  # longer than the relayer's timeout; the receiver still processes it
        return 200

    receiver.behaviour = slow_first_time
    expected = await fill(kit, storage, instances=3, per_instance=3)
    relayer = relayer_for(storage, broker, timeout=0.3, claim_seconds=5, max_retries=5)
    await relayer.start()
    await kit.wait_until(lambda: all_finished(storage))
    await relayer.stop()
    assert set((await statuses(storage)).values()) == {"published"}
    ids = receiver.ids(accepted=False)  # as received: the receiver acts on an event before it answers
    duplicated = {i for i in ids if ids.count(i) > 1}
    assert duplicated == {"i0-e1", "i1-e1", "i2-e1"}  # exactly the timed-out ones, twice each, same id
    assert all(ids.count(i) == 2 for i in duplicated)
    assert_in_order(ids, expected)
    timed_out = [e for e in await storage.list_outbox(limit=100) if e.event_id in duplicated]
    assert all(e.attempts == 2 and "timed out" in (e.last_error or "") for e in timed_out)


async def test_slow_receiver_within_the_timeout_gets_each_event_once(
    kit: Any, storage: Any, receiver: Any, broker: str
) -> None:
    async def slow(delivery: Any, n: int) -> int:
        await asyncio.sleep(0.05)
        return 204

    receiver.behaviour = slow
    await fill(kit, storage, instances=5, per_instance=3)
    relayer = relayer_for(storage, broker, timeout=5)
    await relayer.start()
    await kit.wait_until(lambda: all_finished(storage))
    await relayer.stop()
    assert len(receiver.requests) == 15 == len(set(receiver.ids()))


@pytest.mark.parametrize("status", [400, 413, 415, 422, 301])
async def test_a_rejected_event_fails_and_holds_back_its_instance_until_resent(
    kit: Any, storage: Any, receiver: Any, broker: str, status: int
) -> None:
    rejecting = {"on": True}

    async def reject_poison(delivery: Any, n: int) -> int:
        return status if delivery.id == "poison" and rejecting["on"] else 200

    receiver.behaviour = reject_poison
    events = [kit.new_event("before", 1), kit.new_event("poison", 2), kit.new_event("after", 3)]
    await kit.put_events(storage, "inst", events)
    await kit.put_events(storage, "other", [kit.new_event("elsewhere", 4)])
    relayer = relayer_for(storage, broker)
    await relayer.start()
    await kit.wait_until(lambda: len(receiver.requests) == 3)
    await asyncio.sleep(0.3)  # several more polls: neither the failed event nor the one behind it goes out
    assert sorted(receiver.ids(accepted=False)) == ["before", "elsewhere", "poison"]
    poison = await storage.get_outbox_event("poison")
    assert poison.status == "failed" and poison.attempts == 1
    assert poison.last_error is not None and poison.last_error.startswith(f"HTTP {status}")
    assert (await storage.get_outbox_event("after")).status == "pending"
    assert relayer.counts["failed"] == 1

    rejecting["on"] = False  # the receiver is fixed; the operator re-sends
    assert await storage.resend_outbox("poison", now=datetime.now(UTC)) is True
    relayer.wake()
    await kit.wait_until(lambda: all_finished(storage))
    await relayer.stop()
    assert receiver.ids()[-2:] == ["poison", "after"]  # in order, the re-sent one first
    assert set((await statuses(storage)).values()) == {"published"}


async def test_skipping_a_failed_event_releases_the_rest_of_its_instance(
    kit: Any, storage: Any, receiver: Any, broker: str
) -> None:
    async def reject_poison(delivery: Any, n: int) -> int:
        return 400 if delivery.id == "poison" else 200

    receiver.behaviour = reject_poison
    await kit.put_events(storage, "inst", [kit.new_event("poison", 1), kit.new_event("after", 2)])
    relayer = relayer_for(storage, broker)
    await relayer.start()
    await kit.wait_until(lambda: receiver.requests)
    await asyncio.sleep(0.2)
    assert receiver.ids(accepted=False) == ["poison"]
    assert await storage.skip_outbox("poison", now=datetime.now(UTC)) is True
    relayer.wake()
    await kit.wait_until(lambda: all_finished(storage))
    await relayer.stop()
    assert receiver.ids(accepted=False) == ["poison", "after"]
    assert await statuses(storage) == {"poison": "skipped", "after": "published"}


@pytest.mark.parametrize("status", [401, 403, 404, 409, 410, 429, 500, 503])
async def test_other_answers_are_retried_until_the_receiver_takes_the_event(
    kit: Any, storage: Any, receiver: Any, broker: str, status: int
) -> None:
    """A broker being deployed or reconfigured answers 404 or 401 for a while: no event is given up on that."""

    async def misconfigured_at_first(delivery: Any, n: int) -> int:
        return status if n <= 4 else 200

    receiver.behaviour = misconfigured_at_first
    await kit.put_events(storage, "inst", [kit.new_event("first", 1), kit.new_event("second", 2)])
    relayer = relayer_for(storage, broker)
    await relayer.start()
    await kit.wait_until(lambda: all_finished(storage))
    await relayer.stop()
    assert receiver.ids() == ["first", "second"]
    first = await storage.get_outbox_event("first")
    assert first.status == "published" and first.attempts == 5 and f"HTTP {status}" in (first.last_error or "")
    assert relayer.counts == {"published": 2, "retried": 8, "failed": 0, "expired": 0}  # 4 per event


async def test_by_default_an_outage_of_any_length_is_ridden_out(
    kit: Any, storage: Any, receiver: Any, broker: str
) -> None:
    """0.16.2 (and this relayer before) gave up after 3 retries, about 7 s; the default now never gives up."""
    down = {"attempts": 60}

    async def long_outage(delivery: Any, n: int) -> int:
        return 503 if n <= down["attempts"] else 200

    receiver.behaviour = long_outage
    await kit.put_events(storage, "inst", [kit.new_event("e", {})])
    relayer = OutboxRelayer(storage, broker, poll_interval=0.05, backoff_base=0.001, backoff_max=0.01)
    assert relayer.max_retries is None
    await relayer.start()
    await kit.wait_until(lambda: all_finished(storage), timeout=30)
    await relayer.stop()
    [event] = await storage.list_outbox()
    assert event.status == "published" and event.attempts == 61


async def test_retries_are_bounded_by_max_retries(kit: Any, storage: Any, receiver: Any, broker: str) -> None:
    async def always_down(delivery: Any, n: int) -> int:
        return 502

    receiver.behaviour = always_down
    await kit.put_events(storage, "inst", [kit.new_event("doomed", {}), kit.new_event("next", {})])
    relayer = relayer_for(storage, broker, max_retries=2)
    await relayer.start()
    await kit.wait_until(lambda: len(receiver.requests) == 3)
    await asyncio.sleep(0.2)
    await relayer.stop()
    doomed, nxt = await storage.list_outbox()
    assert doomed.status == "failed" and doomed.attempts == 3  # the first attempt and two retries
    assert (
        doomed.last_error is not None and "gave up after 3 attempts" in doomed.last_error and "502" in doomed.last_error
    )
    assert nxt.status == "pending" and nxt.attempts == 0  # held back behind the failed event: order per instance
    assert receiver.ids(accepted=False) == ["doomed"] * 3


def test_backoff_is_capped_and_jittered() -> None:
    relayer = OutboxRelayer(InMemoryStorage(), "http://127.0.0.1:1/", backoff_base=1.0, backoff_max=300.0)
    for attempts, ceiling in [(1, 1.0), (2, 2.0), (5, 16.0), (9, 256.0), (10, 300.0), (5000, 300.0)]:
        delays = {relayer.delay_for(attempts) for _ in range(50)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays), (attempts, delays)
        assert len(delays) > 1  # jittered: relayers that failed together do not retry together


async def test_backoff_is_exponential_and_honours_retry_after(
    kit: Any, storage: Any, receiver: Any, broker: str
) -> None:
    async def busy(delivery: Any, n: int) -> Any:
        return (503, {"retry-after": "1"}) if n == 1 else 200

    receiver.behaviour = busy
    await kit.put_events(storage, "inst", [kit.new_event("e", {})])
    relayer = OutboxRelayer(storage, broker, poll_interval=0.05, backoff_base=0.01, backoff_max=5)
    await relayer.start()
    await kit.wait_until(lambda: all_finished(storage))
    await relayer.stop()
    first, second = receiver.requests
    assert 0.9 <= second.at - first.at < 2.0  # waited for Retry-After, not the 10 ms backoff


async def test_old_events_expire_instead_of_being_sent(kit: Any, storage: Any, receiver: Any, broker: str) -> None:
    old = datetime.now(UTC) - timedelta(hours=3)
    await kit.put_events(storage, "old", [kit.new_event("stale", {})], now=old)
    await kit.put_events(storage, "new", [kit.new_event("fresh", {})])
    relayer = relayer_for(storage, broker, max_age_hours=1)
    await relayer.start()
    await kit.wait_until(lambda: all_finished(storage))
    await relayer.stop()
    assert await statuses(storage) == {"stale": "expired", "fresh": "published"}
    assert receiver.ids(accepted=False) == ["fresh"]


async def test_two_relayers_deliver_each_event_once(kit: Any, storage: Any, receiver: Any, broker: str) -> None:
    rng = random.Random(3)

    async def jittery(delivery: Any, n: int) -> int:
        await asyncio.sleep(rng.random() * 0.01)
        return 200

    receiver.behaviour = jittery
    expected = await fill(kit, storage, instances=20, per_instance=10)
    first = relayer_for(storage, broker, worker_id="relayer-a", batch_size=5)
    second = relayer_for(storage, broker, worker_id="relayer-b", batch_size=5)
    await asyncio.gather(first.start(), second.start())
    await kit.wait_until(lambda: all_finished(storage), timeout=60)
    await asyncio.gather(first.stop(), second.stop())
    ids = receiver.ids(accepted=False)
    assert len(ids) == 200 == len(set(ids))
    assert_in_order(ids, expected)


async def test_wake_event_sends_at_once_instead_of_at_the_next_poll(
    kit: Any, storage: Any, receiver: Any, broker: str
) -> None:
    wake = asyncio.Event()
    relayer = OutboxRelayer(storage, broker, poll_interval=60, wake_event=wake)
    await relayer.start()
    await asyncio.sleep(0.05)  # the relayer is asleep now, for a minute
    await kit.put_events(storage, "inst", [kit.new_event("woken", {})])
    started = asyncio.get_running_loop().time()
    wake.set()
    await kit.wait_until(lambda: receiver.requests, timeout=2)
    assert asyncio.get_running_loop().time() - started < 0.5
    await relayer.stop()


async def test_stop_is_graceful(kit: Any, storage: Any, receiver: Any, broker: str) -> None:
    async def slow(delivery: Any, n: int) -> int:
        await asyncio.sleep(0.3)
        return 200

    receiver.behaviour = slow
    await kit.put_events(storage, "inst", [kit.new_event("in-flight", {})])
    relayer = relayer_for(storage, broker)
    await relayer.start()
    await kit.wait_until(lambda: receiver.requests)
    await relayer.stop()  # waits for the request in flight and records it
    assert await statuses(storage) == {"in-flight": "published"}
    assert not relayer.running
    await relayer.stop()  # idempotent


async def test_relay_once_without_the_loop(kit: Any, storage: Any, receiver: Any, broker: str) -> None:
    await kit.put_events(storage, "a", [kit.new_event("a1", {}), kit.new_event("a2", {})])
    relayer = relayer_for(storage, broker)
    assert await relayer.relay_once() == 1  # one per instance per pass: a2 waits for a1
    assert await relayer.relay_once() == 1
    assert await relayer.relay_once() == 0
    await relayer.stop()
    assert receiver.ids() == ["a1", "a2"]


async def test_a_given_client_is_used_and_left_open(kit: Any, storage: Any, receiver: Any, broker: str) -> None:
    await kit.put_events(storage, "a", [kit.new_event("a1", {})])
    async with httpx.AsyncClient(headers={"authorization": "Bearer t0k"}) as client:
        relayer = relayer_for(storage, broker, client=client)
        await relayer.start()
        await kit.wait_until(lambda: receiver.requests)
        await relayer.stop()
        assert not client.is_closed
    assert receiver.requests[0].headers["authorization"] == "Bearer t0k"


async def test_storage_failures_do_not_kill_the_loop(kit: Any, receiver: Any, broker: str, caplog: Any) -> None:
    class Flaky(InMemoryStorage):
        failures = 3

        async def claim_outbox(self, **kwargs: Any) -> Any:
            if self.failures:
                self.failures -= 1
                raise ConnectionError("database restarting")
            return await super().claim_outbox(**kwargs)

    storage = Flaky()
    await kit.put_events(storage, "a", [kit.new_event("a1", {})])
    relayer = relayer_for(storage, broker)
    await relayer.start()
    await kit.wait_until(lambda: receiver.requests)
    await relayer.stop()
    assert "database restarting" in caplog.text


async def test_a_database_outage_is_logged_once_not_at_every_poll(
    kit: Any, receiver: Any, broker: str, caplog: Any
) -> None:
    from edda import StorageUnavailableError

    class Down(InMemoryStorage):
        down = True
        calls = 0

        async def claim_outbox(self, **kwargs: Any) -> Any:
            if self.down:
                self.calls += 1
                raise StorageUnavailableError("the database refuses connections")
            return await super().claim_outbox(**kwargs)

    storage = Down()
    await kit.put_events(storage, "a", [kit.new_event("a1", {})])
    relayer = relayer_for(storage, broker, poll_interval=0.01)
    with caplog.at_level("ERROR", logger="edda.outbox"):
        await relayer.start()
        await kit.wait_until(lambda: storage.calls >= 30)
        storage.down = False
        await kit.wait_until(lambda: receiver.requests)
        await relayer.stop()
    failures = [r for r in caplog.records if "Relaying outbox events failed" in r.getMessage()]
    assert storage.calls >= 30 and len(failures) == 1  # 30 failed passes, one line
    assert not failures[0].exc_info  # an unavailable database is no bug: no traceback


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"broker_url": "ftp://x"}, "broker_url"),
        ({"poll_interval": 0}, "poll_interval"),
        ({"max_retries": -1}, "max_retries"),
        ({"max_retries": 1.5}, "max_retries"),
        ({"batch_size": 0}, "batch_size"),
        ({"max_age_hours": 0}, "max_age_hours"),
        ({"claim_seconds": 5, "timeout": 10}, "claim_seconds"),
    ],
)
def test_bad_options_are_refused(options: dict[str, Any], message: str) -> None:
    url = options.pop("broker_url", "http://127.0.0.1:1/")
    with pytest.raises(ValueError, match=message):
        OutboxRelayer(InMemoryStorage(), url, **options)
