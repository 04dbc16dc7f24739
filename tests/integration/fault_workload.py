"""The mixed workload of the fault-injection test: its workflows, and the plan of instances with their expected ends.

A *wave* is a group of instances started together; each wave has its own channels, so waves are independent:

- ``fi_chain`` (2 per wave): three activities in a row; returns their tags.
- ``fi_retry``: an activity that fails twice with a transient error, then succeeds (retried by its policy).
- ``fi_saga``: two reservations, then a charge that is declined (``TerminalError``): both reservations are
  compensated, newest first; the instance ends ``failed``.
- ``fi_sleeper``: an activity, a durable ``sleep`` of 0.3 s, another activity.
- ``fi_event``: waits for a CloudEvent ``fi.go`` addressed to it (``eddainstanceid``); returns its ``v``.
- ``fi_listener`` (2) and ``fi_announcer``: the listeners subscribe to the wave's broadcast channel and receive two
  messages, which the announcer (started after them) publishes from workflow code; every listener gets both.
- ``fi_consumer`` (2) and ``fi_producer``: the consumers take jobs from the wave's competing channel, one per
  iteration (``ctx.recur()``); the producer publishes three jobs from workflow code, one from inside an activity
  (atomically with it), then one stop message per consumer. Every job is processed by exactly one consumer.
- ``fi_looper``: an activity per iteration, ``ctx.recur()`` three times; returns 3.
- ``fi_notifier``: three activities, each putting an outbox event ``fi.note`` (``{"iid", "k"}``) in its own
  transaction; the relayer sends them to a loopback receiver, in order per instance.

Every activity and compensation records its side effect as a row of ``fi_effects`` through ``ctx.session``, in its
own transaction. The table's primary key is the effect's key, so an effect can never be stored twice: a second
attempt would fail (and change how its workflow ends, which the test compares).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text

from edda import (
    RetryPolicy,
    TerminalError,
    WorkflowContext,
    activity,
    compensation,
    on_failure,
    publish,
    receive,
    send_event_transactional,
    sleep,
    subscribe,
    wait_event,
    workflow,
)

EFFECTS_DDL = (
    "CREATE TABLE IF NOT EXISTS fi_effects (effect_key VARCHAR(190) NOT NULL PRIMARY KEY, instance_id VARCHAR(100))"
)
GO_EVENT = "fi.go"
NOTE_EVENT = "fi.note"
JOBS_PER_PRODUCER = 4  # three published from workflow code, one from inside an activity
CONSUMERS = 2
LISTENERS = 2
MESSAGES_PER_ANNOUNCER = 2
NOTES = 3
TRANSIENT_FAILURES = 2
# How many attempts of fi_retry's activity failed so far, per instance (in this process; cleared between runs).
ATTEMPTS: dict[str, int] = {}


class Transient(Exception):
    """A failure the retry policy retries."""


async def record(ctx: WorkflowContext, key: str) -> None:
    """The side effect: a row written in the caller's own transaction (activity or compensation)."""
    await ctx.session.execute(
        text("INSERT INTO fi_effects (effect_key, instance_id) VALUES (:k, :i)"), {"k": key, "i": ctx.instance_id}
    )


@activity
async def step(ctx: WorkflowContext, tag: str) -> str:
    await record(ctx, f"{ctx.instance_id}:{tag}")
    return tag


@activity(retry_policy=RetryPolicy(initial_interval=0.05, max_interval=0.2, max_attempts=20, max_duration=None))
async def flaky(ctx: WorkflowContext) -> str:
    failed = ATTEMPTS.get(ctx.instance_id, 0)
    if failed < TRANSIENT_FAILURES:
        ATTEMPTS[ctx.instance_id] = failed + 1
        raise Transient(f"transient failure {failed + 1}")
    await record(ctx, f"{ctx.instance_id}:flaky")
    return "ok"


@compensation
async def unreserve(ctx: WorkflowContext, item: str) -> None:
    await record(ctx, f"{ctx.instance_id}:unreserve {item}")


@activity
@on_failure(unreserve)
async def reserve(ctx: WorkflowContext, item: str) -> str:
    await record(ctx, f"{ctx.instance_id}:reserve {item}")
    return item


@activity
async def charge(ctx: WorkflowContext, amount: int) -> int:
    await record(ctx, f"{ctx.instance_id}:charge")  # rolled back with the failed attempt
    raise TerminalError(f"declined: {amount}")


@activity
async def handle_job(ctx: WorkflowContext, job: str) -> str:
    await record(ctx, f"job {job}")  # keyed by the job alone: two consumers cannot both process it
    return job


@activity
async def publish_job(ctx: WorkflowContext, channel: str, job: str) -> str:
    await record(ctx, f"{ctx.instance_id}:published {job}")
    await publish(ctx, channel, {"job": job})  # commits atomically with this activity
    return job


@activity
async def note(ctx: WorkflowContext, k: int) -> str:
    await record(ctx, f"{ctx.instance_id}:note {k}")
    return await send_event_transactional(ctx, NOTE_EVENT, "fault-injection", {"iid": ctx.instance_id, "k": k})


@workflow
async def fi_chain(ctx: WorkflowContext) -> list[str]:
    return [await step(ctx, "a"), await step(ctx, "b"), await step(ctx, "c")]


@workflow
async def fi_retry(ctx: WorkflowContext) -> str:
    return await flaky(ctx)


@workflow
async def fi_saga(ctx: WorkflowContext) -> str:
    await reserve(ctx, "a")
    await reserve(ctx, "b")
    await charge(ctx, 500)
    return "unreachable"


@workflow
async def fi_sleeper(ctx: WorkflowContext) -> str:
    await step(ctx, "before")
    await sleep(ctx, 0.3)
    await step(ctx, "after")
    return "slept"


@workflow
async def fi_event(ctx: WorkflowContext) -> int:
    await step(ctx, "ready")
    event = await wait_event(ctx, GO_EVENT)
    await step(ctx, "got")
    return int(event.data["v"])


@workflow
async def fi_listener(ctx: WorkflowContext, channel: str) -> list[int]:
    await subscribe(ctx, channel, mode="broadcast")
    got = []
    for _ in range(MESSAGES_PER_ANNOUNCER):
        message = await receive(ctx, channel)
        got.append(int(message.data["n"]))
        await step(ctx, f"heard {message.data['n']}")
    return got


@workflow
async def fi_announcer(ctx: WorkflowContext, channel: str) -> int:
    for n in range(MESSAGES_PER_ANNOUNCER):
        await publish(ctx, channel, {"n": n})
    return MESSAGES_PER_ANNOUNCER


@workflow
async def fi_consumer(ctx: WorkflowContext, channel: str, processed: int = 0) -> int:
    await subscribe(ctx, channel, mode="competing")
    message = await receive(ctx, channel)
    if message.data.get("stop"):
        await step(ctx, "stop")
        return processed
    await handle_job(ctx, message.data["job"])
    await ctx.recur(processed=processed + 1)
    return -1  # unreachable: recur() does not return


@workflow
async def fi_producer(ctx: WorkflowContext, channel: str) -> int:
    for k in range(JOBS_PER_PRODUCER - 1):
        await publish(ctx, channel, {"job": f"{ctx.instance_id}#{k}"})
    await publish_job(ctx, channel, f"{ctx.instance_id}#act")
    for _ in range(CONSUMERS):
        await publish(ctx, channel, {"stop": True})
    return JOBS_PER_PRODUCER


@workflow
async def fi_looper(ctx: WorkflowContext, n: int = 0) -> int:
    await step(ctx, f"iteration {n}")
    if n >= 3:
        return n
    await ctx.recur(n=n + 1)
    return -1


@workflow
async def fi_notifier(ctx: WorkflowContext) -> int:
    for k in range(NOTES):
        await note(ctx, k)
    return NOTES


@workflow
async def fi_block(ctx: WorkflowContext) -> str:
    """Not part of the waves: a workflow-level ``ctx.transaction()`` block (its writes re-run on every replay)."""
    async with ctx.transaction():
        await record(ctx, f"{ctx.instance_id}:block")
    return "done"


# -- the plan --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Planned:
    """One instance of the workload and how it must end."""

    instance_id: str
    workflow: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    status: str = "completed"
    result: Any = None  # the expected output (None for consumers: it depends on which jobs each one wins)
    effects: frozenset[str] = frozenset()  # the effect keys it records (consumers: only its own "stop")
    group: str = ""  # the wave's channel, for consumers and producers
    event_value: int | None = None  # for fi_event: the ``v`` the test sends it


def build_wave(wave: int) -> list[Planned]:
    """The instances of wave ``wave``, in the order they are started (subscribers before their publishers)."""
    p = f"w{wave:04d}"
    news, jobs = f"fi.news.{p}", f"fi.jobs.{p}"
    plan: list[Planned] = []
    for c in range(CONSUMERS):
        iid = f"{p}-consumer-{c}"
        plan.append(Planned(iid, "fi_consumer", {"channel": jobs}, effects=frozenset({f"{iid}:stop"}), group=jobs))
    for n in range(LISTENERS):
        iid = f"{p}-listener-{n}"
        heard = frozenset(f"{iid}:heard {m}" for m in range(MESSAGES_PER_ANNOUNCER))
        plan.append(
            Planned(iid, "fi_listener", {"channel": news}, result=list(range(MESSAGES_PER_ANNOUNCER)), effects=heard)
        )
    for c in range(2):
        iid = f"{p}-chain-{c}"
        plan.append(Planned(iid, "fi_chain", result=["a", "b", "c"], effects=frozenset(f"{iid}:{t}" for t in "abc")))
    iid = f"{p}-retry"
    plan.append(Planned(iid, "fi_retry", result="ok", effects=frozenset({f"{iid}:flaky"})))
    iid = f"{p}-saga"
    saga_effects = frozenset(f"{iid}:{what} {item}" for what in ("reserve", "unreserve") for item in "ab")
    plan.append(Planned(iid, "fi_saga", status="failed", result="TerminalError", effects=saga_effects))
    iid = f"{p}-sleeper"
    plan.append(Planned(iid, "fi_sleeper", result="slept", effects=frozenset({f"{iid}:before", f"{iid}:after"})))
    iid = f"{p}-event"
    value = 7 + wave
    plan.append(
        Planned(iid, "fi_event", result=value, effects=frozenset({f"{iid}:ready", f"{iid}:got"}), event_value=value)
    )
    iid = f"{p}-looper"
    plan.append(Planned(iid, "fi_looper", result=3, effects=frozenset(f"{iid}:iteration {n}" for n in range(4))))
    iid = f"{p}-notifier"
    plan.append(Planned(iid, "fi_notifier", result=NOTES, effects=frozenset(f"{iid}:note {k}" for k in range(NOTES))))
    iid = f"{p}-producer"
    plan.append(
        Planned(
            iid,
            "fi_producer",
            {"channel": jobs},
            result=JOBS_PER_PRODUCER,
            effects=frozenset({f"{iid}:published {iid}#act"}),
            group=jobs,
        )
    )
    iid = f"{p}-announcer"
    plan.append(Planned(iid, "fi_announcer", {"channel": news}, result=MESSAGES_PER_ANNOUNCER))
    return plan


def job_effects(plan: list[Planned]) -> set[str]:
    """The effect keys of every job the producers of ``plan`` publish (each processed by one consumer)."""
    return {
        f"job {p.instance_id}#{k}"
        for p in plan
        if p.workflow == "fi_producer"
        for k in [*(str(n) for n in range(JOBS_PER_PRODUCER - 1)), "act"]
    }
