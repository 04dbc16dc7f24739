"""SIGKILL a worker process while its third graph node waits on the LLM stand-in, start a fresh process on the same
SQLite file, and check with the stand-in's request count that the two completed nodes did not run again."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

from tests.integration.llm_standin import running_standin

ROOT = Path(__file__).resolve().parents[3]
WORKER = Path(__file__).with_name("graph_worker.py")
OUTLINE = "outline durability"
DRAFT = "draft from [answer to outline durability]"
POLISH = "polish durability (8 words): [answer to draft from [answer to outline durability]]"


async def start_worker(db_url: str, instance_id: str, llm: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(WORKER),
        db_url,
        instance_id,
        llm,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=os.environ | {"PYTHONPATH": str(ROOT)},  # the worker imports the stand-in's client from tests/
    )


async def test_a_killed_worker_resumes_without_running_completed_nodes_again(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'crash.db'}"
    with running_standin(hold=lambda prompt: prompt.startswith("polish")) as llm:
        first = await start_worker(db_url, "essay-1", llm.base_url)
        try:
            held = await asyncio.to_thread(llm.held.wait, 90)
            first.send_signal(signal.SIGKILL)
            _out, err = await first.communicate()
            assert held, f"the third node never called the LLM: {err.decode()[-3000:]}"
            assert first.returncode == -signal.SIGKILL
        finally:
            if first.returncode is None:
                first.kill()
                await first.wait()
        assert llm.prompts == [OUTLINE, DRAFT, POLISH]  # the killed process got as far as the third call

        llm.hold = lambda prompt: False
        llm.release.set()
        second = await start_worker(db_url, "essay-1", llm.base_url)
        out, err = await asyncio.wait_for(second.communicate(), 120)
        assert second.returncode == 0, err.decode()[-3000:]

    answers = [f"answer to {OUTLINE}", f"answer to {DRAFT}", f"answer to {POLISH}"]
    assert json.loads(out.decode().strip().splitlines()[-1]) == {"result": answers}
    # The completed nodes were replayed from history; only the node that was in flight ran again, on the state
    # (the first two answers) and the node (Polish's word count) recorded by the killed process.
    assert llm.count(OUTLINE) == 1
    assert llm.count(DRAFT) == 1
    assert llm.count(POLISH) == 2
    assert len(llm.prompts) == 4
