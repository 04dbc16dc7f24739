"""A worker process for test_client_mode.py: ``python client_mode_worker.py`` with ``EDDA_TEST_DB_URL`` and
``EDDA_TEST_EFFECTS`` set. It runs the workflows of client_mode_flows.py, prints ``ready``, and serves until its
standard input closes."""

from __future__ import annotations

import asyncio
import os
import sys

from edda import EddaApp
from tests.integration import client_mode_flows  # noqa: F401  (registers the workflows)


async def main() -> None:
    async with EddaApp(service_name="client-mode-worker", db_url=os.environ["EDDA_TEST_DB_URL"], recovery_interval=0.2):
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


if __name__ == "__main__":
    asyncio.run(main())
