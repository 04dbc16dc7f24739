"""Cross-process wake-ups on PostgreSQL (LISTEN/NOTIFY), with a real second process delivering the event.

The process that commits an event first tries to run the workflow it woke; it notifies the other processes only
when it could not (here: it does not define the workflow). Either way the waiting workflow resumes at once, not
at the next recovery pass (set to 60 s here, so only a wake-up can explain a quick resume).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from edda import EddaApp, WorkflowContext, wait_event, workflow
from tests.integration.databases import temporary_database


@workflow
async def xp_waiter(ctx: WorkflowContext) -> dict:
    event = await wait_event(ctx, "xp.go")
    return {"data": event.data, "ran_in": os.getpid()}


SENDER = textwrap.dedent(
    """
    import asyncio, os, sys
    from edda import EddaApp, WorkflowContext, wait_event, workflow

    if sys.argv[2] == "defines":
        @workflow
        async def xp_waiter(ctx: WorkflowContext) -> dict:
            event = await wait_event(ctx, "xp.go")
            return {"data": event.data, "ran_in": os.getpid()}

    async def main() -> None:
        async with EddaApp(service_name="sender", db_url=os.environ["XP_DB_URL"], recovery_interval=60) as app:
            await app.handle_cloudevent({"specversion": "1.0", "type": "xp.go", "source": "xp", "id": "e-1",
                                         "data": {"n": 1}, "eddainstanceid": sys.argv[1]})
            await asyncio.sleep(1.5)  # give a local run (or the release and the NOTIFY) time before shutting down

    asyncio.run(main())
    """
)


@pytest.mark.parametrize("sender", ["defines", "lacks"])
async def test_an_event_from_another_process_resumes_the_workflow_at_once(sender: str, tmp_path: Path) -> None:
    async with temporary_database("postgresql", tmp_path) as db_url:
        async with EddaApp(service_name="main", db_url=db_url, recovery_interval=60) as app:
            iid = await xp_waiter.start()
            while (await app.get_instance(iid)).status != "waiting_for_event":  # type: ignore[union-attr]
                await asyncio.sleep(0.01)
            began = time.monotonic()
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                SENDER,
                iid,
                sender,
                env={**os.environ, "XP_DB_URL": db_url},
                stderr=subprocess.PIPE,
            )
            sender_done = asyncio.ensure_future(proc.communicate())
            try:
                result = await app.wait_for_result(iid, timeout=20)
            except TimeoutError:
                _, stderr = await asyncio.wait_for(sender_done, 30)
                pytest.fail(f"not resumed; the sender exited {proc.returncode}:\n{stderr.decode()[-3000:]}")
            took = time.monotonic() - began
            _, stderr = await sender_done
            assert proc.returncode == 0, stderr.decode()[-2000:]
    assert result["data"] == {"n": 1}
    # The sender that defines the workflow ran it itself; the one that does not handed it over by NOTIFY.
    assert (result["ran_in"] == proc.pid) == (sender == "defines"), result
    assert took < 10, f"the workflow resumed {took:.1f} s after the event: no wake-up reached it"
