"""Entry point of every system's child module (stdlib only): picks the bench for the job's workload, or serves as a
helper process when started as one (see :mod:`benchmarks.helpers`).

    if __name__ == "__main__":
        sys.exit(main(lambda: MyWorkflowSystem(), lambda: MyEventSystem()))
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import cast

from benchmarks.crash import CrashBench
from benchmarks.eventsys import EventSystem
from benchmarks.harness import Bench, WorkflowBench, WorkflowSystem, run_child
from benchmarks.helpers import ROLE_ENV, run_helper
from benchmarks.longhist import LongHistoryBench
from benchmarks.parking import ParkingBench
from benchmarks.parkscale import ParkScaleBench
from benchmarks.payloads import PayloadBench
from benchmarks.roundtrip import RoundTripBench
from benchmarks.scaleout import ScaleOutBench
from benchmarks.scalesys import ScaleSystem
from benchmarks.spec import Job
from benchmarks.timers import TimerBench


def main(workflows: Callable[[], WorkflowSystem], events: Callable[[], EventSystem | ScaleSystem]) -> int:
    """``events`` makes the system's :class:`~benchmarks.scalesys.ScaleSystem` (an ``EventSystem`` with more
    workflows); W3's HTTP and W4's user-view variants, and W7-W10, need it."""
    role = os.environ.get(ROLE_ENV)
    if role:
        return run_helper(events, role)

    def scale() -> ScaleSystem:
        return cast(ScaleSystem, events())

    def make(job: Job) -> Bench:
        makers: dict[str, Callable[[], Bench]] = {
            "W3": lambda: RoundTripBench(scale(), job),
            "W4": lambda: TimerBench(scale(), job),
            "W5": lambda: CrashBench(job),
            "W6": lambda: ParkingBench(events(), job),
            "W7": lambda: LongHistoryBench(scale(), job),
            "W8": lambda: ParkScaleBench(scale(), job),
            "W9": lambda: ScaleOutBench(job),
            "W10": lambda: PayloadBench(scale(), job),
        }
        maker = makers.get(job.workload)
        return maker() if maker is not None else WorkflowBench(workflows(), job)

    return run_child(make)
