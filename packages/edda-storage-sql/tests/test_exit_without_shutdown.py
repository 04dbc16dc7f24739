"""An app that is never shut down (e.g. mounted in another ASGI app, which forwards it no lifespan events) does not
keep the interpreter alive, and what it committed is there when the next process opens the database."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CHILD = """
import asyncio, sys
from edda import EddaApp, WorkflowContext, activity, workflow

@activity
async def step(ctx: WorkflowContext) -> str:
    return "done"

@workflow
async def once(ctx: WorkflowContext) -> str:
    return await step(ctx)

async def main() -> None:
    app = EddaApp(db_url=sys.argv[1])
    await app.initialize()
    iid = await once.start(instance_id="exit-1")
    print(await app.wait_for_result(iid, timeout=10), flush=True)
    # no app.shutdown(): the process must still exit when main() returns

asyncio.run(main())
"""


def test_a_process_exits_without_shutting_its_app_down(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'exit.db'}"
    first = subprocess.run([sys.executable, "-c", CHILD, url], capture_output=True, text=True, timeout=60, check=False)
    assert first.returncode == 0 and first.stdout.strip() == "done", first.stderr[-2000:]
    check = (
        "import asyncio, sys\n"
        "from edda import EddaApp\n"
        "async def main():\n"
        "    async with EddaApp(db_url=sys.argv[1]) as app:\n"
        "        print((await app.get_instance('exit-1')).status)\n"
        "asyncio.run(main())\n"
    )
    second = subprocess.run([sys.executable, "-c", check, url], capture_output=True, text=True, timeout=60, check=False)
    assert second.returncode == 0 and second.stdout.strip() == "completed", second.stderr[-2000:]
