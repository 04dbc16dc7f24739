"""Entry point of every system's child module (stdlib only): picks the bench for the job's workload, or serves as a
helper process when started as one (see :mod:`benchmarks.helpers`).

    if __name__ == "__main__":
        sys.exit(main(lambda: MyWorkflowSystem(), lambda: MyEventSystem()))
"""

from __future__ import annotations

import os
from collections.abc import Callable

from benchmarks.crash import CrashBench
from benchmarks.eventsys import EventSystem
from benchmarks.harness import Bench, WorkflowBench, WorkflowSystem, run_child
from benchmarks.helpers import ROLE_ENV, run_helper
from benchmarks.parking import ParkingBench
from benchmarks.roundtrip import RoundTripBench
from benchmarks.spec import Job
from benchmarks.timers import TimerBench


def main(workflows: Callable[[], WorkflowSystem], events: Callable[[], EventSystem]) -> int:
    role = os.environ.get(ROLE_ENV)
    if role:
        return run_helper(events, role)

    def make(job: Job) -> Bench:
        if job.workload == "W3":
            return RoundTripBench(events(), job)
        if job.workload == "W4":
            return TimerBench(events(), job)
        if job.workload == "W5":
            return CrashBench(job)
        if job.workload == "W6":
            return ParkingBench(events(), job)
        return WorkflowBench(workflows(), job)

    return run_child(make)
