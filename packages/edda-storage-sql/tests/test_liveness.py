"""Dead-worker detection: a SIGKILLed worker's leases are taken over at the next claim, not after they expire."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap
from datetime import UTC, datetime, timedelta

import pytest

from edda.storage.records import NewInstance
from edda_storage_sql import SQLAlchemyStorage

CHILD = textwrap.dedent("""
    import asyncio, os, sys
    from datetime import UTC, datetime, timedelta
    from edda.storage.records import NewInstance
    from edda_storage_sql import SQLAlchemyStorage

    async def main():
        storage = SQLAlchemyStorage(os.environ["EDDA_CHILD_DB"])
        await storage.initialize()
        await storage.register_worker("doomed-worker")
        now = datetime.now(UTC)
        await storage.create_instance(NewInstance(
            instance_id="held", workflow_name="wf", input_data={}, owner_id="doomed-worker", now=now,
            lease_expires_at=now + timedelta(hours=1)))
        print("ready", flush=True)
        await asyncio.sleep(3600)

    asyncio.run(main())
""")


@pytest.fixture(params=["postgres_storage", "mysql_storage"])
def server_storage(request: pytest.FixtureRequest) -> SQLAlchemyStorage:
    return request.getfixturevalue(request.param)


async def test_killed_worker_is_detected_at_once(server_storage: SQLAlchemyStorage) -> None:
    storage = server_storage
    assert storage.capabilities.detects_dead_workers
    await storage.register_worker("survivor")
    url = storage._target.url.render_as_string(hide_password=False)
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, stdout=asyncio.subprocess.PIPE, env={**os.environ, "EDDA_CHILD_DB": url}
    )
    try:
        assert child.stdout is not None
        assert (await asyncio.wait_for(child.stdout.readline(), 30)).strip() == b"ready"
        now = datetime.now(UTC)
        later = now + timedelta(seconds=30)
        # alive: its lease (one hour) is respected
        assert await storage.claim_runnable(worker_id="survivor", now=now, lease_expires_at=later, limit=10) == []
        child.send_signal(signal.SIGKILL)
        await asyncio.wait_for(child.communicate(), 10)  # reaps it and closes its pipe
        claimed = []
        for _ in range(50):  # the server notices the closed socket within milliseconds
            claimed = await storage.claim_runnable(
                worker_id="survivor", now=datetime.now(UTC), lease_expires_at=later, limit=10
            )
            if claimed:
                break
            await asyncio.sleep(0.1)
        assert [c.instance_id for c in claimed] == ["held"]
        assert claimed[0].owner_id == "survivor" and claimed[0].lease_epoch == 2
    finally:
        if child.returncode is None:
            child.kill()
            await child.communicate()
        await storage.unregister_worker("survivor")


async def test_live_and_cleanly_stopped_workers_keep_their_leases(server_storage: SQLAlchemyStorage) -> None:
    storage = server_storage
    await storage.register_worker("alive")
    now = datetime.now(UTC)
    await storage.create_instance(
        NewInstance(
            instance_id="mine",
            workflow_name="wf",
            input_data={},
            owner_id="alive",
            now=now,
            lease_expires_at=now + timedelta(hours=1),
        )
    )
    assert await storage.claim_runnable(worker_id="other", now=now, lease_expires_at=now, limit=10) == []
    await storage.unregister_worker("alive")  # a clean stop is not a death: leases run out normally
    assert await storage.claim_runnable(worker_id="other", now=now, lease_expires_at=now, limit=10) == []


async def test_listen_notify_wakes_other_processes(postgres_storage: SQLAlchemyStorage) -> None:
    from edda.storage.records import Fence, InstanceUpdate, NewMessage, StepCommit

    url = postgres_storage._target.url.render_as_string(hide_password=False)
    listener = SQLAlchemyStorage(url)
    await listener.initialize()
    heard: list[tuple[str, ...]] = []
    heard_by_publisher: list[tuple[str, ...]] = []
    try:
        listener.set_wake_callback(heard.append)
        # The publishing process resumes what it woke itself; its own NOTIFY must not come back to it as work.
        postgres_storage.set_wake_callback(heard_by_publisher.append)
        now = datetime.now(UTC)
        await postgres_storage.create_instance(
            NewInstance(
                instance_id="sleeper", workflow_name="wf", input_data={}, owner_id="w", now=now, lease_expires_at=now
            )
        )
        await postgres_storage.receive_or_wait(
            StepCommit(fence=Fence("sleeper", "w", 1), now=now),
            channel="news",
            step_id="r:1",
            wait=InstanceUpdate(status="waiting_for_message", release_lease=True),
        )
        await asyncio.sleep(0.3)  # the listener's LISTEN is in place
        _, woken = await postgres_storage.publish(NewMessage("m1", "news", {"x": 1}), now=now)
        assert woken == ("sleeper",)
        await asyncio.sleep(0.2)
        assert heard == []  # a commit never notifies by itself: the app announces what it could not run
        postgres_storage.announce_wake(woken)
        for _ in range(50):
            if heard:
                break
            await asyncio.sleep(0.05)
        assert heard == [("sleeper",)]
        await asyncio.sleep(0.2)  # the publisher's own notification arrived at its listener by now, if at all
        assert heard_by_publisher == []
    finally:
        await listener.close()


def test_listen_notify_is_postgresql_only() -> None:
    from edda.exceptions import ConfigurationError

    with pytest.raises(ConfigurationError, match="needs PostgreSQL"):
        SQLAlchemyStorage("mysql://root@127.0.0.1/test", use_listen_notify=True)
    assert SQLAlchemyStorage("sqlite:///x.db", use_listen_notify=False) is not None
