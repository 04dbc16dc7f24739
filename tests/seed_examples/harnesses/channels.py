"""Channels and recurrence: the examples' workers subscribe, messages are published from outside (``publish`` on
the app's storage, as the API reference shows) or from other workflows, and who received what is checked."""

from __future__ import annotations

import asyncio
from typing import Any

import edda
from edda import WorkflowContext, activity
from tests.seed_examples.harnesses._registry import registry
from tests.seed_examples.harnesses._support import (
    Run,
    captured_stdout,
    define,
    edda_names,
    execute,
    execute_in,
    harness_app,
    result_of,
    running,
    wait_status,
)

SCENARIOS, scenario = registry()
SEEN: list[tuple[str, Any]] = []


def recording(name: str, *, with_ctx: bool = True) -> Any:
    if with_ctx:

        async def body(ctx: WorkflowContext, data: Any = None, *args: Any, **kwargs: Any) -> dict:
            SEEN.append((name, data))
            return {"handled": name}

        body.__name__ = body.__qualname__ = name
        return activity(body)

    async def plain(data: Any = None, *args: Any) -> None:
        SEEN.append((name, data))

    return plain


def seen(name: str) -> list[Any]:
    return [data for n, data in SEEN if n == name]


async def until(predicate: Any, what: str, timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}; seen: {SEEN}")
        await asyncio.sleep(0.05)


async def _subscribed(app: edda.EddaApp, instance_id: str) -> None:
    await wait_status(app, instance_id, "waiting_for_message", "waiting_for_event")


NAMES = edda_names("workflow", "WorkflowContext", "subscribe", "receive", "publish", "send_to")


@scenario("001_29_job_worker")
async def readme_channels(run: Run) -> None:
    names = {**NAMES, "process_job": recording("process_job"), "send_notification": recording("send_notification")}
    holder: dict[str, Any] = {}

    @edda.workflow
    async def harness_publisher(ctx: WorkflowContext) -> str:
        holder["module"] = await execute_in(run, {"ctx": ctx, **names})  # defines the workers, then publishes
        return "published"

    @edda.workflow
    async def approval(ctx: WorkflowContext) -> Any:
        return (await edda.receive(ctx, channel="approval")).data

    app = harness_app(run)
    async with running(app):
        # workers first (the snippet's definitions are registered by running it once without publishing yet)
        ns = define(run, names)
        workers = [await ns.job_worker.start(worker_id=f"w{i}") for i in (1, 2)]
        handlers = [await ns.notification_handler.start(handler_id=f"h{i}") for i in (1, 2)]
        approver = await approval.start(instance_id="workflow-123")
        for iid in (*workers, *handlers, approver):
            await _subscribed(app, iid)
        await result_of(app, await harness_publisher.start())
        await until(lambda: seen("process_job"), "a job")
        await edda.publish(app, "notifications", {"note": "deploy done"})
        await until(lambda: len(seen("send_notification")) >= 2, "both notification handlers")
        approved = await result_of(app, approver)
        await asyncio.sleep(0.5)
    assert seen("process_job") == [{"task": "send_report"}], SEEN  # competing: one worker got the job
    assert seen("send_notification") == [{"note": "deploy done"}] * 2, SEEN  # broadcast: every handler
    assert approved == {"approved": True}, approved
    run.ok(
        "competing: 1 of 2 workers took the job; broadcast: both handlers got the message; send_to reached workflow-123"
    )


@scenario("001_30_job_worker", "003_30_consumer")
async def competing_workers(run: Run) -> None:
    module = await execute(run, {**NAMES, "process_job": recording("process_job"), "process": recording("process")})
    wf = next(v for v in vars(module).values() if isinstance(v, edda.Workflow))
    channel = "tasks" if wf.name == "consumer" else "jobs"
    arg = {"id": "c"} if wf.name == "consumer" else {}
    app = harness_app(run)
    async with running(app):
        workers = [await wf.start(**(arg or {"worker_id": f"w{i}"}), instance_id=f"{wf.name}-{i}") for i in (1, 2)]
        for iid in workers:
            await _subscribed(app, iid)
        for n in range(4):
            await edda.publish(app, channel, {"job": n})
        name = "process" if wf.name == "consumer" else "process_job"
        await until(lambda: len(seen(name)) >= 4, "four jobs (three of them after a ctx.recur())", timeout=15)
        await asyncio.sleep(0.5)
    jobs = sorted(d["job"] for d in seen(name))
    assert jobs == [0, 1, 2, 3], SEEN  # each job exactly once, across the workers (ctx.recur keeps them going)
    run.ok(f"two {wf.name} instances processed jobs {jobs}, each once, recurring between jobs")


@scenario("003_04_notification_service", "003_13_notification_service")
async def group_notifications(run: Run) -> None:
    # join_group / wait_message are the API reference's older names for subscribe / receive.
    module = await execute(
        run,
        {
            **edda_names("workflow", "WorkflowContext", "join_group", "wait_message"),
            "send_notification": recording("send_notification"),
        },
    )
    app = harness_app(run)
    async with running(app):
        iid = await module.notification_service.start()
        await _subscribed(app, iid)
        for n in range(3):
            await edda.publish(app, "order.completed", {"order": n})
        await until(lambda: len(seen("send_notification")) >= 3, "three notifications")
    assert [d["order"] for d in seen("send_notification")] == [0, 1, 2], SEEN
    run.ok("notification_service received every order.completed message in order")


@scenario("003_28_subscribe")
async def direct_mode(run: Run) -> None:
    wf = edda.workflow(_fragment_body(run, ("msg",)))
    app = harness_app(run)
    async with running(app):
        iid = await wf.start()
        await _subscribed(app, iid)
        await edda.publish(app, f"notifications:{iid}", {"n": 1})
        await asyncio.sleep(0.3)
        await _subscribed(app, iid)
        await edda.publish(app, "notifications", {"n": 2}, target_instance_id=iid)
        output = await result_of(app, iid)
    assert output["msg"] == {"n": 2}, output
    run.ok("received on notifications:<id> (broadcast) and then via mode='direct'")


def _fragment_body(run: Run, keep: tuple[str, ...]) -> Any:
    async def harness_direct(ctx: WorkflowContext) -> dict[str, Any]:
        ns = await execute_in(run, {"ctx": ctx, **edda_names("subscribe", "receive")})
        value = ns.get("msg")
        return {"msg": getattr(value, "data", value)} if "msg" in keep else {}

    return harness_direct


@scenario("003_29_event_handler")
async def three_modes(run: Run) -> None:
    module = await execute(
        run, {**NAMES, "handle_event": recording("handle_event"), "execute_job": recording("execute_job")}
    )
    app = harness_app(run)
    with captured_stdout() as out:
        async with running(app):
            handlers = [await module.event_handler.start(id=f"h{i}") for i in (1, 2)]
            worker = await module.job_worker.start(worker_id="w1")
            receiver = await module.direct_receiver.start(id="r1")
            for iid in (*handlers, worker, receiver):
                await _subscribed(app, iid)
            await edda.publish(app, "notifications", {"hello": "r1"}, target_instance_id=receiver)
            await wait_status(app, receiver, "completed")
            # two of each: the second is received only after `await ctx.recur()` restarted the loop
            for n in (1, 2):
                await edda.publish(app, "order.events", {"event": n})
                await edda.publish(app, "jobs", {"job": n})
            await until(
                lambda: len(seen("handle_event")) >= 4 and len(seen("execute_job")) >= 2,
                "two events per handler and two jobs (each after a ctx.recur())",
                timeout=15,
            )
    assert sorted(d["event"] for d in seen("handle_event")) == [1, 1, 2, 2], SEEN
    assert sorted(d["job"] for d in seen("execute_job")) == [1, 2], SEEN
    assert "Received: {'hello': 'r1'}" in out.getvalue(), out.getvalue()
    run.ok(
        "broadcast reached both handlers twice and competing the worker twice (across ctx.recur()); direct "
        "reached direct_receiver"
    )


@scenario("003_31_order_processor")
async def publish_from_workflow(run: Run) -> None:
    module = await execute(run, {**NAMES, "process_order": recording("process_order")})

    @edda.workflow
    async def harness_listener(ctx: WorkflowContext) -> Any:
        await edda.subscribe(ctx, "order.completed", mode="broadcast")
        return (await edda.receive(ctx, "order.completed")).data

    app = harness_app(run)
    async with running(app):
        listener = await harness_listener.start()
        await _subscribed(app, listener)
        output = await result_of(app, await module.order_processor.start(order_id="O-31"))
        heard = await result_of(app, listener)
    assert output == {"handled": "process_order"} and heard == {"order_id": "O-31"}, (output, heard)
    run.ok(f"order_processor returned {output} and published order.completed, which a subscriber received")


@scenario("003_32_api_handler", "003_33_publish")
async def publish_from_outside(run: Run) -> None:
    app = harness_app(run)

    @edda.workflow
    async def harness_receiver(ctx: WorkflowContext, channel: str) -> Any:
        if channel == "jobs":
            await edda.subscribe(ctx, "jobs", mode="competing")
            return (await edda.receive(ctx, "jobs")).data
        return (await edda.wait_event(ctx, channel)).data

    async with running(app):
        if run.example_id == "003_32_api_handler":
            iid = await harness_receiver.start(channel="jobs")
            await _subscribed(app, iid)
            module = await execute(run, {"app": app, "publish": edda.publish})
            response = await module.api_handler(request=None)
            assert isinstance(response["message_id"], str) and response["message_id"], response
            expected = {"task": "process"}
        else:
            iid = await harness_receiver.start(channel="payment.completed", instance_id="order-123")
            await _subscribed(app, iid)
            await execute(run, {"storage": app.storage, "publish": edda.publish})
            expected = {"amount": 100}
        output = await result_of(app, iid)
    assert output == expected, output
    run.ok(f"published from outside a workflow; the receiving instance got {output}")


@scenario("003_34_approver")
async def approver(run: Run) -> None:
    module = await execute(run, {**NAMES, "review": activity(_review)})

    @edda.workflow
    async def harness_request(ctx: WorkflowContext) -> Any:
        return (await edda.receive(ctx, "__direct__")).data

    app = harness_app(run)
    async with running(app):
        request = await harness_request.start(instance_id="REQ-34")
        await _subscribed(app, request)
        await result_of(app, await module.approver.start(request_id="REQ-34"))
        output = await result_of(app, request)
    assert output == {"approved": True}, output
    run.ok(f"send_to delivered the decision to the requesting instance: {output}")


async def _review(ctx: WorkflowContext, request_id: str) -> bool:
    return True
