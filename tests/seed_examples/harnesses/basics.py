"""Workflows and activities: the example's definitions are run on an app, with the helpers they call defined here
as activities (recording their calls), and the result, the output and the history are checked."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import edda
from edda import WorkflowContext, activity
from edda.testing import FakeClock, simulate_crash
from tests.seed_examples.harnesses._registry import registry
from tests.seed_examples.harnesses._support import (
    Run,
    captured_stdout,
    edda_names,
    execute,
    harness_app,
    in_order,
    result_of,
    running,
    skip_time,
    wait_status,
)

SCENARIOS, scenario = registry()

CALLS: list[tuple[str, tuple[Any, ...]]] = []
CRASH: dict[str, Any] = {"at": None, "event": None}  # the activity in which the first process "dies"


def recorded(name: str, result: Any = None) -> Any:
    """An activity named ``name`` that records its calls and returns ``result`` (or ``result(*args)``); if it is the
    one named by ``CRASH["at"]``, its first call never returns (the process is killed while it runs)."""

    async def body(ctx: WorkflowContext, *args: Any, **kwargs: Any) -> Any:
        CALLS.append((name, args))
        if CRASH["at"] == name and CRASH["event"] is not None and not CRASH["event"].is_set():
            CRASH["event"].set()
            await asyncio.Future()  # stays here until simulate_crash cancels everything
        return result(*args) if callable(result) else result

    body.__name__ = body.__qualname__ = name
    return activity(body)


def called(name: str) -> list[tuple[Any, ...]]:
    return [args for n, args in CALLS if n == name]


@scenario("000_03_order_workflow")
async def quickstart_main(run: Run) -> None:
    # A whole program whose main() the page leaves to the reader to call: call it, as asyncio.run(main()) would.
    with captured_stdout() as out:
        module = await execute(run)
        await module.main()
    assert "Processing payment: $99.99" in out.getvalue() or "Started workflow:" in out.getvalue(), out.getvalue()
    instance_id = out.getvalue().split("Started workflow: ", 1)[1].split()[0]
    async with running(harness_app(run, db_url="sqlite:///workflow.db")) as app:
        output = await result_of(app, instance_id)
    assert output == {"order_id": "ORD-123", "status": "paid", "amount": 99.99}, output
    run.ok(f"main() started {instance_id}; it completed with {output}")


@scenario("001_03_order_workflow")
async def readme_quickstart(run: Run) -> None:
    # The README's snippet awaits at the top level, so it runs inside an async main; its app is the one it creates,
    # and the comment says initialize() comes first: the harness does that after the app exists.
    with captured_stdout() as out:
        module = await _execute_with_initialized_app(run)
        app = module.app
        try:
            output = await result_of(app, module.instance_id)
        finally:
            await app.shutdown()
    assert output == {"order_id": "ORD-123", "status": "paid", "amount": 99.99}, output
    assert "Processing payment: $99.99" in out.getvalue()
    run.ok(f"started {module.instance_id}, completed with {output}")


async def _execute_with_initialized_app(run: Run) -> Any:
    """Run a snippet that creates ``app = EddaApp(...)`` and then starts workflows: initialize the app the moment
    it is created (the snippet's own comment asks for that), by running the text statement by statement."""
    import ast

    from tests.seed_examples.harnesses._support import new_module

    module = new_module(run)
    tree = ast.parse(run.text)
    for node in tree.body:
        code = compile(ast.Module([node], []), str(run.path), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        result = eval(code, module.__dict__)
        if asyncio.iscoroutine(result):
            await result
        app = module.__dict__.get("app")
        if isinstance(app, edda.EddaApp) and not getattr(app, "_initialized", False):
            await app.initialize()
    return module


@scenario("001_12_user_signup")
async def user_signup(run: Run) -> None:
    module = await execute(run)
    async with running(harness_app(run)) as app:
        with captured_stdout() as out:
            iid = await module.user_signup.start(email="ada@example.com")
            output = await result_of(app, iid)
        history = await app.storage.get_history(iid)
    assert output == {"status": "completed"}, output
    assert "Sending email to ada@example.com" in out.getvalue()
    ids = [e["activity_id"] for e in history if e["event_type"] == "ActivityCompleted"]
    assert ids == ["send_email:1"], ids  # "Activities are automatically identified with IDs like send_email:1"
    run.ok(f"user_signup completed with {output}; activity ids {ids}")


@scenario("001_13_long_running_workflow")
async def long_running(run: Run) -> None:
    create_user = recorded("create_user", lambda uid: {"user_id": uid, "email": f"{uid}@example.com"})
    send_welcome_email = recorded("send_welcome_email", lambda email: {"sent_to": email})
    module = await execute(
        run,
        {
            **edda_names("workflow", "WorkflowContext"),
            "create_user": create_user,
            "send_welcome_email": send_welcome_email,
        },
    )
    await _crash_then_resume(
        run,
        module.long_running_workflow,
        {"user_id": "u1"},
        after="send_welcome_email",
        expect={"sent_to": "u1@example.com"},
        once=["create_user"],
    )


async def _crash_then_resume(
    run: Run, wf: Any, kwargs: dict[str, Any], *, after: str, expect: Any, once: list[str]
) -> None:
    """Start ``wf``; the first time activity ``after`` runs, the process 'crashes' (simulate_crash drops the app as a
    killed process would, its lease left behind); a new app on the same database resumes the instance. The
    activities in ``once`` must have run exactly once overall."""
    crash = asyncio.Event()
    CRASH.update(at=after, event=crash)
    first = harness_app(run, lease_timeout_seconds=1.0)
    await first.initialize()
    iid = await wf.start(**kwargs)
    await asyncio.wait_for(crash.wait(), 30)
    await simulate_crash(first)
    async with running(harness_app(run, lease_timeout_seconds=1.0)) as app:
        output = await result_of(app, iid, timeout=60)
    assert output == expect, output
    for name in once:
        assert len(called(name)) == 1, f"{name} ran {len(called(name))} times: {CALLS}"
    run.ok(f"crashed inside {after}, resumed on a new app: {output}; {once} ran once")


@scenario("004_03_process_order")
async def process_order_crash(run: Run) -> None:
    reserve_inventory = recorded("reserve_inventory", lambda oid: {"reservation": f"R-{oid}"})
    charge_payment = recorded("charge_payment", lambda oid: {"paid": oid})
    module = await execute(
        run,
        {
            **edda_names("workflow", "WorkflowContext"),
            "reserve_inventory": reserve_inventory,
            "charge_payment": charge_payment,
        },
    )
    await _crash_then_resume(
        run,
        module.process_order,
        {"order_id": "O-1"},
        after="charge_payment",
        expect={"order_id": "O-1", "status": "completed"},
        once=["reserve_inventory"],
    )


@scenario("004_04_long_running_workflow")
async def replay_example(run: Run) -> None:
    # The page's listing of the second run (after a crash following Step 2) is block 004_05; its lines must appear
    # in that order in what the resumed run prints.
    create_user = recorded("create_user", lambda uid: {"email": f"{uid}@example.com"})
    send_welcome_email = recorded("send_welcome_email", lambda email: {"sent": email})
    setup_profile = recorded("setup_profile", lambda uid: {"profile": uid})
    module = await execute(
        run,
        {
            **edda_names("workflow", "WorkflowContext"),
            "create_user": create_user,
            "send_welcome_email": send_welcome_email,
            "setup_profile": setup_profile,
        },
    )
    with captured_stdout() as out:
        await _crash_then_resume(
            run,
            module.long_running_workflow,
            {"user_id": "user_123"},
            after="setup_profile",
            expect={"profile": "user_123"},
            once=["create_user", "send_welcome_email"],
        )
    second_run = out.getvalue().rsplit("Step 0: Starting workflow for user_123", 1)[1]
    in_order(
        "Step 0: Starting workflow for user_123" + second_run,
        "Step 0: Starting workflow for user_123",
        "Step 2: Email sent",
        "Step 3: Profile setup",
    )
    run.ok("the resumed run printed the listing's lines in order")


@scenario("001_21_process_order")
async def pydantic_items(run: Run) -> None:
    module = await execute(run)
    async with running(harness_app(run)) as app:
        items = [
            module.OrderItem(item_id="A", quantity=2, price=3.5),
            module.OrderItem(item_id="B", quantity=1, price=10.0),
        ]
        iid = await module.process_order.start(items=items)
        output = await result_of(app, iid)
        assert output == {"total": 17.0, "item_count": 2}, output
        try:
            await module.process_order.start(items=[{"item_id": "C", "quantity": 0, "price": 1.0}])
        except Exception as exc:  # "Automatic validation before workflow starts"
            rejected = type(exc).__name__
        else:
            raise AssertionError("an item with quantity 0 was accepted")
    run.ok(f"validated list[OrderItem] input: {output}; quantity=0 rejected with {rejected}")


@scenario("004_23_process_order")
async def pydantic_io(run: Run) -> None:
    module = await execute(run)
    async with running(harness_app(run)) as app:
        order = module.OrderInput(order_id="ORD-7", customer_email="a@example.com", amount=100.0)
        iid = await module.process_order.start(input=order)
        output = await result_of(app, iid)
        assert output["order_id"] == "ORD-7" and output["status"] == "completed", output
        assert abs(output["total"] - 110.0) < 1e-9, output
        try:
            await module.process_order.start(input={"order_id": "bad", "customer_email": "x", "amount": 1.0})
        except Exception as exc:
            rejected = type(exc).__name__
        else:
            raise AssertionError("order_id 'bad' passed the ^ORD-\\d+$ pattern")
    run.ok(f"OrderInput -> OrderResult {output}; invalid order_id rejected with {rejected}")


@scenario("004_01_send_email")
async def send_email_activity(run: Run) -> None:
    from tests.seed_examples.harnesses.services import EmailService, services

    async with services() as svc:
        module = await execute(run, {"email_service": EmailService(svc.url)})

        @edda.workflow
        async def harness_send(ctx: WorkflowContext, email: str) -> Any:
            return await module.send_email(ctx, email, "hello")

        async with running(harness_app(run)) as app:
            output = await result_of(app, await harness_send.start(email="b@example.com"))
    assert output["sent"] is True and output["message_id"].startswith("msg-"), output
    assert svc.service.calls[-1] == ("/email/send", {"to": "b@example.com", "message": "hello"}), svc.service.calls
    run.ok(f"send_email reached the loopback email service: {output}")


@scenario("004_02_user_signup")
async def user_signup_three_steps(run: Run) -> None:
    create_account = recorded("create_account", lambda email, name: {"user_id": f"U-{name}"})
    send_email = recorded("send_email", lambda email, msg: {"sent": True})
    setup = recorded("setup_default_settings", lambda uid: {"ok": uid})
    module = await execute(
        run, {"create_account": create_account, "send_email": send_email, "setup_default_settings": setup}
    )
    async with running(harness_app(run)) as app:
        output = await result_of(app, await module.user_signup.start(email="c@example.com", name="Cy"))
    assert output == {"user_id": "U-Cy", "status": "active"}, output
    assert called("send_email") == [("c@example.com", "Welcome, Cy!")] and called("setup_default_settings") == [
        ("U-Cy",)
    ]
    run.ok(f"user_signup ran its three steps in order: {output}")


@scenario("004_07_resilient_workflow")
async def resilient(run: Run) -> None:
    attempts = {"n": 0}

    async def fetch_user_data(ctx: WorkflowContext, user_id: str) -> dict:
        attempts["n"] += 1
        if attempts["n"] < 3:
            raise ConnectionError("network down")  # "retries automatically on network errors"
        return {"user_id": user_id}

    fetch_user_data.__qualname__ = "fetch_user_data"
    save_user = recorded("save_user", lambda data: {"saved": data["user_id"]})
    module = await execute(
        run,
        {
            **edda_names("workflow", "WorkflowContext"),
            "fetch_user_data": activity(fetch_user_data),
            "save_user": save_user,
        },
    )
    clock = FakeClock()
    async with running(harness_app(run, clock=clock)) as app:
        iid = await module.resilient_workflow.start(user_id="u9")
        await wait_status(app, iid)
        record = await app.storage.get_instance(iid)
    assert record["status"] == "completed", dict(record)
    assert attempts["n"] == 3 and called("save_user") == [({"user_id": "u9"},)], (attempts, CALLS)
    run.ok(f"fetch_user_data failed twice and was retried (backoff {clock.sleeps[:2]}); save_user ran once")


@scenario("004_12_order_workflow")
async def deterministic_branch(run: Run) -> None:
    statuses = iter(["approved", "declined"])
    process_payment = recorded("process_payment", lambda amount: {"status": next(statuses)})
    ship_order = recorded("ship_order", lambda oid: {"shipped": oid})
    refund = recorded("refund", lambda oid: {"refunded": oid})
    module = await execute(
        run,
        {
            **edda_names("workflow", "WorkflowContext"),
            "process_payment": process_payment,
            "ship_order": ship_order,
            "refund": refund,
        },
    )
    async with running(harness_app(run)) as app:
        first = await result_of(app, await module.order_workflow.start(order_id="O1", amount=5.0))
        second = await result_of(app, await module.order_workflow.start(order_id="O2", amount=5.0))
    assert first == {"status": "approved"} and second == {"status": "declined"}, (first, second)
    assert called("ship_order") == [("O1",)] and called("refund") == [("O2",)], CALLS
    run.ok("approved payment shipped O1; declined payment refunded O2")


@scenario("004_13_inventory_workflow")
async def non_deterministic_read(run: Run) -> None:
    from tests.seed_examples.harnesses.services import InventoryDb

    db = InventoryDb({"item-1": 3})
    reserve_item = recorded("reserve_item", lambda item: {"reserved": item})
    module = await execute(run, {**edda_names("workflow", "WorkflowContext"), "db": db, "reserve_item": reserve_item})
    async with running(harness_app(run)) as app:
        iid = await module.inventory_workflow.start(item_id="item-1")
        await wait_status(app, iid, "completed")
        empty = await module.inventory_workflow.start(item_id="item-2")
        await wait_status(app, empty, "completed")
    assert called("reserve_item") == [("item-1",)], CALLS
    assert db.queries == [
        ("SELECT stock FROM inventory WHERE id = ?", "item-1"),
        ("SELECT stock FROM inventory WHERE id = ?", "item-2"),
    ], db.queries
    run.ok("stock read directly from the database decided the branch (item-1 reserved, item-2 not)")


@scenario("004_14_fresh_inventory_check")
async def fresh_check(run: Run) -> None:
    stock = iter([{"available": 2}, {"available": 0}])
    check = recorded("check_current_inventory", lambda item: next(stock))
    create_order = recorded("create_order", lambda item: {"order": item})
    notify = recorded("notify_out_of_stock", lambda item: {"notified": item})
    module = await execute(
        run,
        {
            **edda_names("workflow", "WorkflowContext"),
            "check_current_inventory": check,
            "create_order": create_order,
            "notify_out_of_stock": notify,
        },
    )
    async with running(harness_app(run)) as app:
        await wait_status(app, await module.fresh_inventory_check.start(item_id="A"), "completed")
        await wait_status(app, await module.fresh_inventory_check.start(item_id="B"), "completed")
    assert called("create_order") == [("A",)] and called("notify_out_of_stock") == [("B",)], CALLS
    run.ok("available stock created an order; none notified out of stock")


@scenario("004_15_batch_workflow")
async def batch(run: Run) -> None:
    process_item = recorded("process_item", lambda item: {"done": item})
    module = await execute(run, {**edda_names("workflow", "WorkflowContext"), "process_item": process_item})
    async with running(harness_app(run)) as app:
        iid = await module.batch_workflow.start(item_ids=["a", "b", "c"])
        output = await result_of(app, iid)
        history = await app.storage.get_history(iid)
    ids = [e["activity_id"] for e in history if e["event_type"] == "ActivityCompleted"]
    assert output == {"processed": 3} and ids == ["process_item:1", "process_item:2", "process_item:3"], (output, ids)
    run.ok(f"three items processed under the explicit ids {ids}")


@scenario("004_16_my_activity")
async def context_properties(run: Run) -> None:
    module = await execute(run, edda_names("activity", "WorkflowContext"))

    @edda.workflow
    async def harness_steps(ctx: WorkflowContext) -> Any:
        return [await module.my_activity(ctx, "x"), await module.my_activity(ctx, "y")]

    async with running(harness_app(run)) as app:
        output = await result_of(app, await harness_steps.start())
    assert [o["param"] for o in output] == ["x", "y"] and all(isinstance(o["step"], int) for o in output), output
    assert output[0]["step"] < output[1]["step"], output
    run.ok(f"ctx.current_step inside the activity: {[o['step'] for o in output]}")


@scenario("003_05_order_workflow")
async def start_manually(run: Run) -> None:
    reserve_inventory = recorded("reserve_inventory", lambda oid: {"r": oid})
    process_payment = recorded("process_payment", lambda oid, amount: {"paid": amount})
    async with running(harness_app(run)) as app:
        module = await execute(
            run,
            {
                **edda_names("workflow", "WorkflowContext"),
                "reserve_inventory": reserve_inventory,
                "process_payment": process_payment,
            },
        )
        output = await result_of(app, module.instance_id)
    assert output == {"status": "completed"} and called("process_payment") == [("123", 100)], (output, CALLS)
    run.ok(f"order_workflow.start(order_id='123', amount=100) -> {module.instance_id}: {output}")


@scenario("003_06_auto_workflow")
async def event_handler_workflow(run: Run) -> None:
    from tests.seed_examples.harnesses.standins import post_cloudevent, serve

    module = await execute(run, edda_names("workflow", "WorkflowContext"))
    async with running(harness_app(run)) as app, serve(app) as url:
        response = await post_cloudevent(url + "/", "auto_workflow", "seed-harness", {"order_id": "A-1"})
        assert response.status_code == 202, response.text
        found = await _find_instance(app, "auto_workflow")
        record = await wait_status(app, found, "completed")
    assert module.auto_workflow.name == "auto_workflow" and record["status"] == "completed"
    run.ok(f"a CloudEvent of type auto_workflow started instance {found}, which completed")


async def _find_instance(app: edda.EddaApp, name: str, timeout: float = 20.0) -> str:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        page = await app.find_instances(workflow_name=name)
        if page["instances"]:
            return page["instances"][0]["instance_id"]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no instance of {name} appeared")


@scenario("003_07_long_running_workflow")
async def lock_timeout(run: Run) -> None:
    module = await execute(run, edda_names("workflow", "WorkflowContext"))
    async with running(harness_app(run)) as app:
        iid = await module.long_running_workflow.start(note="x")
        await wait_status(app, iid, "completed")
        iid2 = await module.long_running_workflow.start(lock_timeout_seconds=30)
        await wait_status(app, iid2, "completed")
    run.ok("@workflow(lock_timeout_seconds=600) started with and without a per-start lock_timeout_seconds")


@scenario("003_10_reserve_inventory")
async def sync_and_async_activities(run: Run) -> None:
    users = {"u1": type("User", (), {"name": "Ada"})()}
    module = await execute(run, {**edda_names("activity", "WorkflowContext"), "fetch_user": users.get})

    @edda.workflow
    async def harness_activities(ctx: WorkflowContext) -> Any:
        out = [
            await module.reserve_inventory(ctx, "O1"),
            await module.reserve_inventory_async(ctx, "O1"),
            await module.process_payment(ctx, 9.5),
            await module.charge_credit_card(ctx, 9.5),
            await module.validate_user(ctx, "u1"),
        ]
        try:
            await module.validate_user(ctx, "nobody")
        except edda.TerminalError as exc:
            out.append(f"TerminalError: {exc}")
        return out

    async with running(harness_app(run)) as app:
        output = await result_of(app, await harness_activities.start())
    assert output == [
        {"reservation_id": "123"},
        {"reservation_id": "123"},
        {"status": "completed"},
        {"transaction_id": "txn_123"},
        {"user_id": "u1", "name": "Ada"},
        "TerminalError: User nobody not found",
    ], output
    run.ok("sync and async activities ran; validate_user raised TerminalError for an unknown user")


@scenario("003_08_my_activity", "003_09_gather")
async def activity_ids(run: Run) -> None:
    from tests.seed_examples.harnesses._support import execute_in

    my_activity = recorded("my_activity", lambda arg: {"echo": arg})

    @edda.workflow
    async def harness_ids(ctx: WorkflowContext) -> Any:
        ns = await execute_in(
            run, {"ctx": ctx, "my_activity": my_activity, "arg1": "a", "arg2": "b", "asyncio": asyncio}
        )
        return ns.get("results") or [ns["result1"], ns["result2"]]

    async with running(harness_app(run)) as app:
        iid = await harness_ids.start()
        output = await result_of(app, iid)
        history = await app.storage.get_history(iid)
    ids = sorted(e["activity_id"] for e in history if e["event_type"] == "ActivityCompleted")
    assert output == [{"echo": "a"}, {"echo": "b"}] and ids == ["my_activity:1", "my_activity:2"], (output, ids)
    run.ok(f"results {output} recorded as {ids}")


@scenario("000_01_onboarding_reminder", "001_01_onboarding_reminder")
async def onboarding(run: Run) -> None:
    check_completed = recorded("check_completed", lambda uid: uid == "done")
    send_reminder = recorded("send_reminder", lambda uid: {"reminded": uid})
    module = await execute(
        run,
        {
            **edda_names("workflow", "WorkflowContext", "sleep", "wait_timer"),
            "check_completed": check_completed,
            "send_reminder": send_reminder,
        },
    )
    clock = FakeClock()
    async with running(harness_app(run, clock=clock)) as app:
        started = clock.now()
        a = await module.onboarding_reminder.start(user_id="new")
        b = await module.onboarding_reminder.start(user_id="done")
        await wait_status(app, b, "waiting_for_timer")
        await skip_time(app, clock, a, 3 * 24 * 60 * 60)
        await wait_status(app, a, "completed")
        await wait_status(app, b, "completed")
    waited = (clock.now() - started).total_seconds()
    assert waited >= 3 * 24 * 60 * 60, f"the fake clock moved only {waited}s"
    assert called("send_reminder") == [("new",)], CALLS
    run.ok(f"after a 3-day timer (fake clock: {waited:.0f}s) only the incomplete user got a reminder")


@scenario("001_28_order_with_timeout", "002_22_order_with_timeout", "003_18_order_workflow")
async def order_with_timer(run: Run) -> None:
    create_order = recorded("create_order", lambda oid: {"created": oid})
    check_payment = recorded("check_payment", lambda oid: {"paid": oid})
    names = {
        **edda_names("workflow", "WorkflowContext", "sleep"),
        "create_order": create_order,
        "check_payment": check_payment,
    }
    module = await execute(run, names)
    wf = next(v for v in vars(module).values() if isinstance(v, edda.Workflow))
    clock = FakeClock()
    async with running(harness_app(run, clock=clock)) as app:
        started = clock.now()
        iid = await wf.start(order_id="O-5")
        await skip_time(app, clock, iid, 60)
        record = await wait_status(app, iid, "completed")
    waited = (clock.now() - started).total_seconds()
    assert waited >= 60 and called("check_payment") == [("O-5",)], (waited, CALLS)
    run.ok(
        f"{wf.name}: created, waited 60 s on the timer (fake clock {waited:.0f}s), checked payment: "
        f"{record.get('output_data')}"
    )


@scenario("003_19_scheduled_report")
async def scheduled(run: Run) -> None:
    generate_report = recorded("generate_report", lambda rid: {"report": rid})
    module = await execute(
        run, {**edda_names("workflow", "WorkflowContext", "sleep_until"), "generate_report": generate_report}
    )
    clock = FakeClock(start=datetime.now(UTC))  # the example computes "tomorrow" from the real date
    async with running(harness_app(run, clock=clock)) as app:
        iid = await module.scheduled_report.start(report_id="R1")
        record = await wait_status(app, iid, "waiting_for_timer")
        assert called("generate_report") == [], CALLS
        await skip_time(app, clock, iid, 2 * 24 * 60 * 60)
        await wait_status(app, iid, "completed")
    assert called("generate_report") == [("R1",)], CALLS
    run.ok(
        f"waited on sleep_until (timer {record.get('wake_at')}); once the fake clock passed tomorrow 9 AM the "
        "report was generated"
    )


@scenario("001_35_payment_workflow")
async def sync_activity(run: Run) -> None:
    module = await execute(run, edda_names("workflow"))
    async with running(harness_app(run)) as app:
        output = await result_of(app, await module.payment_workflow.start(order_id="O-1"))
    assert output == {"status": "paid", "amount": 99.99}, output
    run.ok(f"a sync activity ran in a thread from an async workflow: {output}")
