"""DBOS Transact 3.x (PyPI ``dbos>=3,<4``), run inside ``benchmarks/.venvs/dbos3``: W1/W2 here, W3-W6 in
:mod:`benchmarks.peers.dbos3_waits`.

API as read from the installed 3.x source:

* ``DBOS(config={"name": ..., "system_database_url": ...})`` then ``DBOS.launch()``; ``DBOS.destroy()`` at the
  end. 3.x has a single system database (the 2.x ``database_url`` key is rejected); it accepts ``sqlite:///path``
  and ``postgresql://...`` (driven through psycopg 3).
* ``@DBOS.workflow()`` / ``@DBOS.step()`` on async functions; ``await DBOS.start_workflow_async(wf, n)`` returns a
  handle once the workflow is recorded, ``await handle.get_result()`` awaits it.
"""

from __future__ import annotations

import asyncio
import sys
from importlib import metadata
from typing import Any

from dbos import DBOS, DBOSConfig

from benchmarks.child import main
from benchmarks.peers.dbos3_scale import DbosScale
from benchmarks.spec import Job


@DBOS.step()
async def add_one(x: int) -> int:
    return x + 1


@DBOS.step()
async def double(x: int) -> int:
    return x * 2


@DBOS.step()
async def minus_one(x: int) -> int:
    return x - 1


@DBOS.workflow()
async def bench_workflow(n: int) -> int:
    a = await add_one(n)
    b = await double(a)
    return await minus_one(b)


class DbosSystem:
    name = "dbos"

    def __init__(self) -> None:
        self.version = metadata.version("dbos")
        self._launched = False

    async def setup(self, job: Job) -> None:
        config: DBOSConfig = {
            "name": "bench",
            "system_database_url": job.db_url,
            "log_level": "WARNING",
        }
        DBOS(config=config)
        DBOS.launch()
        self._launched = True

    async def start(self, n: int) -> Any:
        return await DBOS.start_workflow_async(bench_workflow, n)

    async def result(self, handle: Any, wait_s: float) -> Any:
        return await asyncio.wait_for(handle.get_result(), timeout=wait_s)

    async def teardown(self) -> None:
        if self._launched:
            DBOS.destroy()


if __name__ == "__main__":
    sys.exit(main(DbosSystem, DbosScale))
