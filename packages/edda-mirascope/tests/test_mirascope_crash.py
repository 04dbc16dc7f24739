"""Kill a real worker process (SIGKILL) while its third LLM call is in flight, start a fresh process on the same
SQLite file, and check with the stand-in's request count that the two completed calls were not made again."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import threading
from pathlib import Path

from .conftest import sqlite_url
from .mirascope_standin import Reply, Request, running_standin

WORKER = Path(__file__).with_name("mirascope_worker.py")


def worker_env(base_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "MIRASCOPE_", "ANTHROPIC_"))}
    return env | {"OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": "sk-test-standin"}


async def start_worker(db_url: str, instance_id: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(WORKER),
        db_url,
        instance_id,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_a_killed_worker_resumes_without_repeating_completed_llm_calls(tmp_path: Path) -> None:
    third_arrived = threading.Event()
    release = threading.Event()

    def answer(request: Request) -> Reply:
        question = request.last_user_text
        if question.startswith("question 3") and not third_arrived.is_set():
            third_arrived.set()  # the first worker's third call: hold it until that worker is dead
            release.wait(120)
        return Reply(text=f"answer {question.split()[1]}")

    db_url = sqlite_url(tmp_path / "crash.db")
    with running_standin(answer) as standin:
        env = worker_env(standin.base_url)
        first = await start_worker(db_url, "trip-1", env)
        try:
            arrived = await asyncio.to_thread(third_arrived.wait, 90)
            first.send_signal(signal.SIGKILL)
            _out, err = await first.communicate()
            assert arrived, f"the third call never arrived: {err.decode()[-3000:]}"
            assert first.returncode == -signal.SIGKILL
        finally:
            release.set()
            if first.returncode is None:
                first.kill()
                await first.wait()

        second = await start_worker(db_url, "trip-1", env)
        out, err = await asyncio.wait_for(second.communicate(), 120)
        assert second.returncode == 0, err.decode()[-3000:]
        result = json.loads(out.decode().strip().splitlines()[-1])["result"]

        assert result == ["answer 1", "answer 2", "answer 3"]
        asked = [r.last_user_text for r in standin.requests]
        assert asked.count("question 1") == 1
        assert asked.count("question 2 (after answer 1)") == 1
        # The third call never completed in the killed process, so the fresh one made it again.
        assert asked.count("question 3 (after answer 2)") == 2
        assert len(asked) == 4
