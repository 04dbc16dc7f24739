"""Durable tools over stdio: the MCP SDK's stdio client runs ``python -m edda_mcp_testapp stdio`` as its subprocess."""

from __future__ import annotations

import json

from edda_mcp_testkit import ServerFiles, instance_id_in, status_until, stdio_session, text_of


async def test_stdio_lists_starts_polls_and_gets_the_result(files: ServerFiles) -> None:
    async with stdio_session(files) as session:
        names = {tool.name for tool in (await session.list_tools()).tools}
        started = await session.call_tool("pipeline", {"job": "over-stdio"})
        instance_id = instance_id_in(started)
        files.gate.touch()  # let the second step finish
        status = await status_until(session, "pipeline_status", instance_id, "completed")
        result = await session.call_tool("pipeline_result", {"instance_id": instance_id})
        prompt = await session.get_prompt("instance_report", {"instance_id": instance_id})
    assert {"pipeline", "pipeline_status", "pipeline_result", "pipeline_cancel"} <= names
    assert "Completed Activities: 3" in text_of(status), text_of(status)
    assert not result.is_error, text_of(result)
    assert json.loads(text_of(result).removeprefix("Workflow Result:\n")) == {
        "steps": ["over-stdio-1", "over-stdio-2", "over-stdio-3"]
    }
    report = prompt.messages[0].content.text  # type: ignore[union-attr]
    assert "Status: completed" in report and "ActivityCompleted:step_three:1" in report, report
    assert files.effects_lines() == [
        "one over-stdio",
        "two-start over-stdio",
        "two-done over-stdio",
        "three over-stdio",
    ]


async def test_stdio_cancel_runs_the_compensation(files: ServerFiles) -> None:
    async with stdio_session(files) as session:
        instance_id = instance_id_in(await session.call_tool("book_trip", {"hotel": "Stdio Suites"}))
        await status_until(session, "book_trip_status", instance_id, "waiting_for_event")
        cancelled = await session.call_tool("book_trip_cancel", {"instance_id": instance_id})
        report = await session.get_prompt("instance_report", {"instance_id": instance_id})
    assert not cancelled.is_error and "Compensations executed: 1 (release_room)" in text_of(cancelled)
    text = report.messages[0].content.text  # type: ignore[union-attr]
    assert "Status: cancelled" in text and "CompensationExecuted:" in text, text
    assert files.effects_lines() == ["reserve Stdio Suites", "release Stdio Suites"]
