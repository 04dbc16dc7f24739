"""A durable tool survives its server: SIGKILL the server process while the workflow runs, start a new one on the same
SQLite file, and the workflow completes without running a completed activity again (side effects counted in a file).
"""

from __future__ import annotations

import json

from edda_mcp_testkit import (
    ServerFiles,
    http_server,
    http_session,
    instance_id_in,
    start_http_server,
    status_until,
    stop,
    text_of,
    wait_for,
)


async def test_sigkill_mid_workflow_then_restart_completes_without_repeating_completed_activities(
    files: ServerFiles,
) -> None:
    first = start_http_server(files)
    try:
        async with http_session(first.mcp_url) as session:
            instance_id = instance_id_in(await session.call_tool("pipeline", {"job": "crash"}))
        # step_one has completed (its result is committed before step_two starts); step_two is in flight.
        await wait_for(lambda: "two-start crash" in files.effects_lines(), "the second step to start")
        first.process.kill()  # SIGKILL: no shutdown, no lease release, nothing flushed
        first.process.wait(10)
    finally:
        stop(first)
    assert first.process.returncode == -9
    files.gate.touch()  # from now on the second step can finish

    with http_server(files) as second:  # a new process on the same database resumes the workflow at start-up
        async with http_session(second.mcp_url) as session:
            status = await status_until(session, "pipeline_status", instance_id, "completed")
            result = await session.call_tool("pipeline_result", {"instance_id": instance_id})
    assert "Completed Activities: 3" in text_of(status), text_of(status)
    assert json.loads(text_of(result).removeprefix("Workflow Result:\n")) == {
        "steps": ["crash-1", "crash-2", "crash-3"]
    }
    effects = files.effects_lines()
    assert effects.count("one crash") == 1, effects  # completed before the kill: replayed from history, not re-run
    assert effects.count("two-start crash") == 2, effects  # in flight at the kill: its result was never recorded
    assert effects.count("two-done crash") == 1, effects
    assert effects.count("three crash") == 1, effects
