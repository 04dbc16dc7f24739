"""Retries and errors: activities from the examples (or harness activities under the examples' policies) fail
against loopback services, and the attempts, the backoff delays (on a FakeClock, which records every delay the
engine asks for) and the final outcome are checked."""

from __future__ import annotations

import ast
import logging
from typing import Any

import edda
from edda import RetryExhaustedError, RetryPolicy, WorkflowContext, activity
from edda.testing import FakeClock
from tests.seed_examples.harnesses._registry import registry
from tests.seed_examples.harnesses._support import (
    Run,
    captured_stdout,
    edda_names,
    execute,
    execute_in,
    harness_app,
    result_of,
    running,
    wait_status,
)
from tests.seed_examples.harnesses.services import (
    AsyncHttp,
    ExternalService,
    Flaky,
    LlmClient,
    PaymentService,
    services,
)

SCENARIOS, scenario = registry()


def _in_workflow(call: Any) -> edda.Workflow:
    """A workflow that runs ``call(ctx, *args)`` (the example's activity) and returns its result."""

    async def harness_call(ctx: WorkflowContext, args: list[Any]) -> Any:
        return await call(ctx, *args)

    return edda.workflow(harness_call)


async def _outcome(app: edda.EddaApp, instance_id: str) -> Any:
    record = await wait_status(app, instance_id)
    return record["status"], record.get("output_data"), record.get("error_type") or record.get("output_data")


@scenario("001_14_call_external_api", "004_06_call_external_api")
async def external_api(run: Run) -> None:
    async with services() as svc:
        module = await execute(run, {"httpx": AsyncHttp(), "http_client": AsyncHttp()})
        wf = _in_workflow(module.call_external_api)
        clock = FakeClock()
        async with running(harness_app(run, clock=clock)) as app:
            output = await result_of(app, await wf.start(args=[f"{svc.url}/api/data"]))
            assert output in ({"value": 42}, {"data": {"value": 42}}), output
            # nothing listens on port 9 of loopback: every attempt fails to connect
            failed = await wf.start(args=["http://127.0.0.1:9/api/data"])
            record = await wait_status(app, failed)
    assert record["status"] == "failed", dict(record)
    assert clock.sleeps[:4] == [1.0, 2.0, 4.0, 8.0] and len(clock.sleeps) == 4, clock.sleeps
    run.ok(f"fetched {output} over HTTP; an unreachable URL failed after 5 attempts, delays {clock.sleeps}")


@scenario("001_15_flaky_operation")
async def flaky(run: Run) -> None:
    route = Flaky(2, lambda body: {"processed": body})
    async with services(**{"/process": route}) as svc:
        module = await execute(run, {"external_service": ExternalService(svc.url)})
        clock = FakeClock()
        async with running(harness_app(run, clock=clock)) as app:
            output = await result_of(app, await _in_workflow(module.flaky_operation).start(args=[{"n": 1}]))
    assert output == {"processed": {"n": 1}} and route.calls == 3, (output, route.calls)
    assert clock.sleeps == [0.5, 1.0], clock.sleeps
    run.ok(f"two failures retried after {clock.sleeps} s (initial_interval=0.5, backoff 2.0), third call: {output}")


@scenario("001_16_edda_app")
async def app_default_policy(run: Run) -> None:
    module = await execute(run)
    app: edda.EddaApp = module.app
    attempts: list[float] = []

    @activity
    async def harness_probe(ctx: WorkflowContext) -> str:
        attempts.append(app.clock.now().timestamp())
        if len(attempts) == 1:
            raise ConnectionError("first attempt fails")
        return "ok"

    async with running(app):
        output = await result_of(app, await _in_workflow(harness_probe).start(args=[]))
    delay = attempts[1] - attempts[0]
    assert output == "ok" and len(attempts) == 2 and delay >= 1.9, (output, attempts)
    run.ok(f"an activity without a policy used the app's default: retried after {delay:.2f}s (initial_interval=2.0)")


@scenario("001_17_validate_user", "003_47_validate_user", "004_09_validate_user")
async def terminal_error(run: Run) -> None:
    lookups: list[str] = []

    async def lookup(user_id: str) -> Any:
        lookups.append(user_id)
        return {"user_id": user_id, "email": f"{user_id}@example.com"} if user_id == "u1" else None

    module = await execute(
        run, {**edda_names("activity", "WorkflowContext", "TerminalError"), "get_user": lookup, "fetch_user": lookup}
    )
    wf = _in_workflow(module.validate_user)
    clock = FakeClock()
    async with running(harness_app(run, clock=clock)) as app:
        found = await result_of(app, await wf.start(args=["u1"]))
        missing = await wf.start(args=["ghost"])
        record = await wait_status(app, missing)
    assert found["user_id"] == "u1", found
    assert record["status"] == "failed" and lookups.count("ghost") == 1 and clock.sleeps == [], (dict(record), lookups)
    assert "User ghost not found" in str(dict(record)), dict(record)
    run.ok(f"found {found}; an unknown user failed at once with TerminalError (1 attempt, no retry)")


@scenario("001_18_event_type_event_data")
async def retry_metadata_shape(run: Run) -> None:
    documented = ast.literal_eval(ast.parse(run.text).body[0].value)  # the example is this one dict display
    await execute(run)  # and it runs as written
    failures = {"n": 0}

    @activity
    async def call_external_api(ctx: WorkflowContext) -> dict:
        failures["n"] += 1
        if failures["n"] < 3:
            raise ConnectionError(f"attempt {failures['n']} failed")
        return {"data": "ok"}

    clock = FakeClock()
    async with running(harness_app(run, clock=clock)) as app:
        iid = await _in_workflow(call_external_api).start(args=[])
        await result_of(app, iid)
        history = await app.storage.get_history(iid)
    event = next(e for e in history if e["event_type"] == "ActivityCompleted")
    data = event["event_data"]
    assert set(documented["event_data"]) <= set(data), (documented["event_data"].keys(), data)
    meta = data["retry_metadata"]
    assert set(documented["event_data"]["retry_metadata"]) <= set(meta), meta
    assert meta["total_attempts"] == 3 and meta["exhausted"] is False and len(meta["errors"]) == 2, meta
    assert data["activity_name"] == "call_external_api" and data["result"] == {"data": "ok"}, data
    run.ok(f"a recorded ActivityCompleted has the documented shape: retry_metadata {sorted(meta)}")


async def _policy_run(run: Run, policy: RetryPolicy, fail_times: int) -> tuple[str, list[float], int]:
    calls = {"n": 0}

    @activity(retry_policy=policy)
    async def harness_flaky(ctx: WorkflowContext) -> str:
        calls["n"] += 1
        if calls["n"] <= fail_times:
            raise ConnectionError(f"failure {calls['n']}")
        return "ok"

    clock = FakeClock()
    async with running(harness_app(run, clock=clock)) as app:
        record = await wait_status(app, await _in_workflow(harness_flaky).start(args=[]), timeout=60)
    return record["status"], clock.sleeps, calls["n"]


@scenario("003_43_retry_policy")
async def default_policy(run: Run) -> None:
    module = await execute(run, edda_names("RetryPolicy"))
    status, sleeps, calls = await _policy_run(run, module.policy, fail_times=99)
    assert status == "failed" and calls == 5 and sleeps == [1.0, 2.0, 4.0, 8.0], (status, calls, sleeps)
    run.ok(f"RetryPolicy(): 5 attempts, delays {sleeps}, then the workflow failed")


@scenario("003_44_retry_policy")
async def custom_policy(run: Run) -> None:
    module = await execute(run, edda_names("RetryPolicy"))
    status, sleeps, calls = await _policy_run(run, module.policy, fail_times=99)
    expected = [0.5 * 1.5**k for k in range(9)]
    assert status == "failed" and calls == 10, (status, calls, sleeps)
    assert all(abs(a - b) < 1e-9 for a, b in zip(sleeps, expected, strict=True)), sleeps
    run.ok(f"initial 0.5 s, x1.5, 10 attempts: delays {[round(s, 3) for s in sleeps]}")


@scenario("003_45_retry_policy")
async def infinite_policy(run: Run) -> None:
    module = await execute(run, edda_names("RetryPolicy"))
    status, sleeps, calls = await _policy_run(run, module.policy, fail_times=25)
    assert status == "completed" and calls == 26 and max(sleeps) == 60.0, (status, calls, sleeps)
    run.ok(f"max_attempts=None kept retrying: 25 failures, then success (delays capped at {max(sleeps)} s)")


class NetworkError(Exception):
    """The error class the example checks for (its own code would define or import it)."""


@scenario("003_46_my_activity")
async def retry_exhausted_fragment(run: Run) -> None:
    @activity
    async def my_activity(ctx: WorkflowContext) -> None:
        raise NetworkError("connection reset")

    records: list[str] = []
    logger = logging.getLogger("seed.example")
    logger.addHandler(type("H", (logging.Handler,), {"emit": lambda self, r: records.append(r.getMessage())})())

    @edda.workflow
    async def harness_body(ctx: WorkflowContext) -> str:
        await execute_in(
            run,
            {
                "ctx": ctx,
                "my_activity": my_activity,
                "RetryExhaustedError": RetryExhaustedError,
                "NetworkError": NetworkError,
                "logger": logger,
            },
        )
        return "handled"

    clock = FakeClock()
    with captured_stdout() as out:
        async with running(harness_app(run, clock=clock)) as app:
            output = await result_of(app, await harness_body.start())
    assert output == "handled" and "Retries exhausted:" in out.getvalue(), out.getvalue()
    assert "5 attempts" in out.getvalue(), out.getvalue()
    assert records == ["Network issue detected"], records
    run.ok("RetryExhaustedError caught after 5 attempts; __cause__ was the NetworkError, logged")


@scenario("004_08_critical_payment_api")
async def critical_payment(run: Run) -> None:
    route = Flaky(1, lambda body: {"id": "txn-critical", "amount": body["amount"]})
    async with services(**{"/payments/charge": route}) as svc:
        module = await execute(run, {"WorkflowContext": WorkflowContext, "payment_service": PaymentService(svc.url)})
        clock = FakeClock()
        async with running(harness_app(run, clock=clock)) as app:
            output = await result_of(app, await _in_workflow(module.critical_payment_api).start(args=[25.0]))
    assert output == {"transaction_id": "txn-critical"} and clock.sleeps == [0.5], (output, clock.sleeps)
    run.ok(f"a failed charge was retried after {clock.sleeps} s (initial_interval=0.5): {output}")


@scenario("004_10_order_workflow")
async def exhausted_then_fallback(run: Run) -> None:
    notified: list[str] = []

    @activity
    async def charge_payment(ctx: WorkflowContext, order_id: str) -> None:
        raise ConnectionError("payment gateway down")

    @activity
    async def notify_payment_team(ctx: WorkflowContext, order_id: str) -> None:
        notified.append(order_id)

    module = await execute(
        run, {"workflow": edda.workflow, "charge_payment": charge_payment, "notify_payment_team": notify_payment_team}
    )
    clock = FakeClock()
    async with running(harness_app(run, clock=clock)) as app:
        record = await wait_status(app, await module.order_workflow.start(order_id="O-13"))
    assert record["status"] == "failed" and notified == ["O-13"], (dict(record), notified)
    assert "RetryExhaustedError" in str(dict(record)), dict(record)
    run.ok("after 5 failed attempts the fallback notified the payment team and the workflow failed")


@scenario("004_20_ai_research_workflow")
async def ai_research(run: Run) -> None:
    async with services() as svc:
        module = await execute(run, {"llm_client": LlmClient(svc.url)})
        async with running(harness_app(run)) as app:
            output = await result_of(app, await module.ai_research_workflow.start(topic="durable execution"))
    expected = "answer to [Report: answer to [Analyze: answer to [Research: durable execution]]]"
    assert output == {"report": expected}, output
    assert [path for path, _ in svc.service.calls] == ["/llm/generate"] * 3
    run.ok(f"three LLM calls through the loopback stand-in produced {output}")
