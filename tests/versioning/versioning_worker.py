"""One deploy of the versioned workflow: ``python -m tests.versioning.versioning_worker COMMAND ORDER...`` with
PYTHONPATH holding the version's ``flows.py``, and EDDA_TEST_DB_URL / EDDA_TEST_EFFECTS set.

- ``start ORDER...``: start an instance per order (id = the order), return once each waits for its event.
- ``ship ORDER...``: deliver each order's ``shipped.<order>`` event; run until every instance has finished; print
  ``{order: [status, output or error type]}`` as JSON.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

import flows  # type: ignore[import-not-found]  # the version on PYTHONPATH

from edda import EddaApp, InstanceStatus

FINISHED = {InstanceStatus.COMPLETED, InstanceStatus.FAILED, InstanceStatus.CANCELLED}


async def until(app: EddaApp, orders: list[str], statuses: set[str]) -> dict[str, object]:
    async with asyncio.timeout(30):
        while True:
            records = {o: await app.get_instance(o) for o in orders}
            if all(r is not None and r.status in statuses for r in records.values()):
                return records
            await asyncio.sleep(0.05)


async def main(command: str, orders: list[str]) -> None:
    async with EddaApp(service_name="versioned", db_url=os.environ["EDDA_TEST_DB_URL"], recovery_interval=0.1) as app:
        if command == "start":
            for order in orders:
                await flows.versioned_order.start(order=order, instance_id=order)
            await until(app, orders, {InstanceStatus.WAITING_FOR_EVENT})
            return
        for order in orders:
            await app.handle_cloudevent(
                {"specversion": "1.0", "type": f"shipped.{order}", "source": "t", "id": f"ship-{order}", "data": {}},
                wait=True,
            )
        records = await until(app, orders, FINISHED)
        print(json.dumps({o: [r.status, r.output_data if r.output_data is not None else (r.error or {}).get("error_type")]
                          for o, r in records.items()}))  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2:]))
