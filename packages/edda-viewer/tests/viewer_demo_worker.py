"""A worker process for the viewer's tests: runs the demo workflows on EDDA_DB_URL until SIGTERM.

With VIEWER_DEMO_BROKER_URL it also runs the outbox relayer against that URL, giving up on an event after one retry
(so an unreachable broker leaves failed events with their last error for the outbox page).
"""

from __future__ import annotations

import asyncio
import os
import signal

import viewer_demo_workflows  # noqa: F401  (registers the workflows)

from edda import EddaApp, OutboxOptions


async def main() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    broker = os.environ.get("VIEWER_DEMO_BROKER_URL")
    async with EddaApp(
        service_name="viewer-demo-worker",
        db_url=os.environ["EDDA_DB_URL"],
        recovery_interval=0.2,
        outbox_enabled=broker is not None,
        broker_url=broker,
        outbox_options=OutboxOptions(max_retries=1, backoff_base=0.1, poll_interval=0.2, timeout=2.0),
    ):
        print("worker ready", flush=True)
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
