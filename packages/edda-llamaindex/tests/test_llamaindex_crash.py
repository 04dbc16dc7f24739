"""SIGKILL a worker process while its third LlamaIndex step waits on the LLM stand-in, start a fresh process on the
same SQLite file, and check with the stand-in's request count that the two completed steps did not run again."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

from tests.integration.llm_standin import running_standin

ROOT = Path(__file__).resolve().parents[3]
WORKER = Path(__file__).with_name("llamaindex_worker.py")
OUTLINE = "outline durability"
DRAFT = "draft from [answer to outline durability]"
POLISH = "polish durability: [answer to draft from [answer to outline durability]]"


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


async def test_a_killed_worker_resumes_without_running_completed_steps_again(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'crash.db'}"
    with running_standin(hold=lambda prompt: prompt.startswith("polish")) as llm:
        first = await start_worker(db_url, "essay-1", llm.base_url)
        try:
            held = await asyncio.to_thread(llm.held.wait, 90)
            first.send_signal(signal.SIGKILL)
            _out, err = await first.communicate()
            assert held, f"the third step never called the LLM: {err.decode()[-3000:]}"
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

    assert json.loads(out.decode().strip().splitlines()[-1]) == {"result": f"answer to {POLISH}"}
    # The completed steps were replayed from history; only the step that was in flight ran again. Its prompt
    # names the topic the first step wrote to ctx.store in the killed process: the store came back from history.
    assert llm.count(OUTLINE) == 1
    assert llm.count(DRAFT) == 1
    assert llm.count(POLISH) == 2
    assert len(llm.prompts) == 4
