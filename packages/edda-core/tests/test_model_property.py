"""Property-based model test: random workflow programs, random crashes, random restarts.

Hypothesis generates a program (sequences and small parallel groups of activities that succeed, fail transiently or
fail terminally, some with compensations; sleeps; event waits) and a list of crash points (the k-th storage write
after which the "process" dies: nothing more is written and all its tasks stop). The program runs through the
engine, restarting a fresh app on the same storage after every crash, and the outcome is compared with a simple
model of the documented semantics:

- the final status and result are those of a crash-free run;
- every activity that completed has its side effect exactly once — except an activity whose body was already
  running in another task when a crash hit (it may run again: that is the at-least-once window of non-transactional
  effects, documented in docs/guarantees.md);
- on failure, exactly the completed activities with compensations are compensated, newest first, each at most once.

Set EDDA_MODEL_EXAMPLES to run more examples (the long form); CI runs the default.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edda import (
    EddaApp,
    RetryPolicy,
    TerminalError,
    WorkflowContext,
    WorkflowFailedError,
    activity,
    compensation,
    sleep,
    wait_event,
    workflow,
)
from edda.storage.memory import InMemoryStorage

EXAMPLES = int(os.environ.get("EDDA_MODEL_EXAMPLES", "150"))
_WRITES = (
    "create_instance",
    "commit_step",
    "receive_or_wait",
    "publish",
    "claim_instance",
    "claim_runnable",
    "claim_runnable_of",
    "request_cancel",
    "renew_leases",
    "release_foreign_leases",
)


class Crash(BaseException):
    pass


class CrashingStorage:
    """Memory storage that 'dies' after its k-th write: that write lands, no later one does."""

    def __init__(self, inner: InMemoryStorage, kill_after: int | None) -> None:
        self.inner = inner
        self.kill_after = kill_after
        self.writes = 0
        self.dead = False

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if name not in _WRITES:
            return attr

        async def write(*args: Any, **kwargs: Any) -> Any:
            if self.dead:
                raise Crash()
            result = await attr(*args, **kwargs)
            self.writes += 1
            if self.kill_after is not None and self.writes >= self.kill_after:
                self.dead = True
                raise Crash()
            return result

        return write


@dataclass(frozen=True)
class Act:
    name: str
    behavior: str  # "ok", "transient", "terminal"
    compensated: bool


@dataclass(frozen=True)
class Par:
    acts: tuple[Act, ...]


@dataclass(frozen=True)
class Sleep:
    pass


@dataclass(frozen=True)
class Event:
    pass


effects: Counter[str] = Counter()
started: set[str] = set()
attempts: Counter[str] = Counter()
comp_log: list[str] = []
PROGRAM: list[Any] = []


@compensation
async def undo(ctx: WorkflowContext, name: str) -> None:
    comp_log.append(name)


@activity(retry_policy=RetryPolicy(max_attempts=3, initial_interval=0.001, backoff_coefficient=1))
async def step(ctx: WorkflowContext, name: str, behavior: str) -> str:
    started.add(name)
    attempts[name] += 1
    if behavior == "terminal":
        raise TerminalError(f"{name} failed")
    if behavior == "transient" and attempts[name] == 1:  # fails once, ever; later attempts succeed
        raise ConnectionError(f"{name} blipped")
    effects[name] += 1
    return name


async def run_act(ctx: WorkflowContext, act: Act) -> str:
    # the instance-specific activity id keeps parallel calls deterministic and distinct
    result = await step(ctx, act.name, act.behavior, activity_id=act.name)
    if act.compensated:
        from edda import register_compensation

        await register_compensation(ctx, undo, act.name)
    return result


@workflow
async def model_program(ctx: WorkflowContext) -> list[str]:
    done: list[str] = []
    for item in PROGRAM:
        if isinstance(item, Act):
            done.append(await run_act(ctx, item))
        elif isinstance(item, Par):
            done.extend(await asyncio.gather(*(step(ctx, a.name, a.behavior, activity_id=a.name) for a in item.acts)))
        elif isinstance(item, Sleep):
            await sleep(ctx, 0.001)
        else:
            event = await wait_event(ctx, "model.go")
            done.append(f"event {event.data['n']}")
    return done


def expected_outcome(program: list[Any]) -> tuple[str, list[str], list[str]]:
    """(status, result or completed activities, compensations newest first) per the documented semantics."""
    done: list[str] = []
    compensable: list[str] = []
    for item in program:
        if isinstance(item, Act):
            if item.behavior == "terminal":
                return "failed", done, list(reversed(compensable))
            done.append(item.name)
            if item.compensated:
                compensable.append(item.name)
        elif isinstance(item, Par):
            done.extend(a.name for a in item.acts)
        elif isinstance(item, Event):
            done.append("event 1")
    return "completed", done, []


names = iter(range(10**9))
acts = st.builds(
    lambda b, c: Act(f"a{next(names)}", b, c),
    st.sampled_from(["ok", "ok", "transient", "transient", "terminal"]),
    st.sampled_from([True, True, False]),
)
safe_acts = st.builds(lambda b: Act(f"p{next(names)}", b, False), st.sampled_from(["ok", "transient"]))
items = st.one_of(
    acts,
    acts,
    st.builds(lambda xs: Par(tuple(xs)), st.lists(safe_acts, min_size=2, max_size=3)),
    st.just(Sleep()),
    st.just(Event()),
)
terminal_tail = st.builds(lambda c: [Act(f"t{next(names)}", "terminal", c)], st.booleans())
programs = st.builds(
    lambda body, tail: body + tail, st.lists(items, min_size=1, max_size=7), st.one_of(st.just([]), terminal_tail)
)
crash_points = st.lists(st.integers(min_value=1, max_value=16), max_size=3)


async def deliver_events(app: EddaApp, iid: str) -> None:
    while True:
        record = await app.storage.get_instance(iid)
        if record is not None and record.status == "waiting_for_event":
            event_id = f"e-{next(names)}"  # a new event each time: a seen source + id is a duplicate (CloudEvents)
            await app.handle_cloudevent(
                {"type": "model.go", "source": "t", "id": event_id, "eddainstanceid": iid, "data": {"n": 1}}
            )
        await asyncio.sleep(0.005)


async def run_with_crashes(program: list[Any], crashes: list[int]) -> tuple[str, Any, set[str]]:
    global PROGRAM
    PROGRAM = program
    memory = InMemoryStorage()
    in_flight_at_crash: set[str] = set()
    iid = "model-1"
    for kill_after in [*crashes, None]:
        storage = CrashingStorage(memory, kill_after)
        app = EddaApp(storage=storage, recovery_interval=0.01)
        try:
            await app.initialize()
            if await memory.get_instance(iid) is None:
                await app.start_workflow(model_program, {}, instance_id=iid)
            feeder = asyncio.create_task(deliver_events(app, iid))
            try:
                while True:
                    record = await memory.get_instance(iid)
                    if record is not None and record.is_finished:
                        break
                    if storage.dead:
                        raise Crash()
                    await asyncio.sleep(0.002)
            finally:
                feeder.cancel()
        except Crash:
            committed = {h.activity_id for h in memory._history if h.event_type == "ActivityCompleted"}
            in_flight_at_crash |= started - committed
            await app._crash()
            continue
        try:
            result = await app.wait_for_result(iid, timeout=5)
            status = "completed"
        except WorkflowFailedError:
            status, result = "failed", None
        await app.shutdown()
        return status, result, in_flight_at_crash
    raise AssertionError("unreachable")


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(program=programs, crashes=crash_points)
def test_random_programs_survive_random_crashes(program: list[Any], crashes: list[int]) -> None:
    effects.clear()
    started.clear()
    attempts.clear()
    comp_log.clear()
    status, result, in_flight = asyncio.run(asyncio.wait_for(run_with_crashes(program, sorted(crashes)), 30))
    want_status, want_done, want_comps = expected_outcome(program)
    assert status == want_status
    if status == "completed":
        assert result == want_done
    for name in want_done:
        if not name.startswith("event"):
            allowed = {1, 2} if name in in_flight else {1}
            assert effects[name] in allowed, f"{name} ran {effects[name]} times (in flight at a crash: {in_flight})"
    assert comp_log == want_comps, f"compensations {comp_log} != {want_comps}"
