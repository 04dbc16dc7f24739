"""What W7's and W9's helper processes do on command (child side, stdlib only; see :mod:`benchmarks.helpers`).

* ``batch`` (W9): start ``tripler(k)`` for ``k`` in ``[first, first + count)`` together (one ``asyncio.gather``),
  await every result, and report the times of the first start and the last result, the failures, and how many
  activity executions of each instance this process ran (:data:`benchmarks.scalesys.LOG`);
* ``await`` (W7): wait for workflows' results (a restarted worker recovering them) and report them with this
  process's RSS and peak RSS.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from benchmarks.probes import vm_kib
from benchmarks.scalesys import LOG, ScaleSystem
from benchmarks.spec import expected_result


def jsonable(value: Any) -> Any:
    """A workflow's result as JSON, an exception as ``{"error": "<type>: <message>"}``."""
    if isinstance(value, BaseException):
        return {"error": f"{type(value).__name__}: {value}"[:500]}
    return value


async def run_batch(system: ScaleSystem, first: int, count: int, limit_s: float) -> dict[str, Any]:
    LOG.reset()
    ks = range(first, first + count)
    t_first = time.monotonic()
    handles = await asyncio.gather(*(system.launch("tripler", {"k": k}) for k in ks), return_exceptions=True)
    wids = {str(h): k for h, k in zip(handles, ks, strict=True) if not isinstance(h, BaseException)}
    errors = [f"start: {type(h).__name__}: {h}" for h in handles if isinstance(h, BaseException)]
    done = await system.results(list(wids), limit_s)
    t_last = time.monotonic()
    completed = 0
    for wid, k in wids.items():
        value = done.get(wid, TimeoutError(f"not finished within {limit_s:.0f} s"))
        if value == expected_result(k):
            completed += 1
        else:
            errors.append(f"tripler {k}: {str(jsonable(value))[:200]}")
    return {
        "t_first": t_first,
        "t_last": t_last,
        "completed": completed,
        "failed": count - completed,
        "first_error": errors[0] if errors else "",
        "executions": dict(LOG.executions),
    }


async def await_results(system: ScaleSystem, wids: list[str], limit_s: float) -> dict[str, Any]:
    done = await system.results(wids, limit_s)
    return {
        "values": {wid: jsonable(value) for wid, value in done.items()},
        "rss_kib": vm_kib("VmRSS"),
        "hwm_kib": vm_kib("VmHWM"),
    }
