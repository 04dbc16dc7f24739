"""Starting workflows, running activities, inputs, results and ids."""

from __future__ import annotations

import asyncio
import enum
import threading
from dataclasses import dataclass

import pytest

from edda import (
    EddaApp,
    InvalidInputError,
    SerializationError,
    WorkflowContext,
    WorkflowFailedError,
    WorkflowNotFoundError,
    WorkflowStateError,
    activity,
    get_all_workflows,
    workflow,
)
from edda.exceptions import ConfigurationError

pydantic = pytest.importorskip("pydantic")


class Money(pydantic.BaseModel):
    amount: float = pydantic.Field(gt=0)
    currency: str = "EUR"


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclass
class Point:
    x: int
    y: int


async def test_start_runs_to_completion_and_records_history(app: EddaApp) -> None:
    calls: list[float] = []

    @activity
    async def pay(ctx: WorkflowContext, amount: float) -> dict:
        calls.append(amount)
        return {"paid": amount}

    @workflow
    async def order(ctx: WorkflowContext, order_id: str, amount: float) -> dict:
        first = await pay(ctx, amount)
        second = await pay(ctx, amount * 2)
        return {"order_id": order_id, "total": first["paid"] + second["paid"]}

    iid = await order.start(order_id="A-1", amount=1.5)
    assert await app.wait_for_result(iid, timeout=5) == {"order_id": "A-1", "total": 4.5}
    assert calls == [1.5, 3.0]
    record = await app.get_instance(iid)
    assert record is not None and record.status == "completed" and record["output_data"]["total"] == 4.5
    assert record.owner_id is None  # lease released
    history = await app.storage.get_history(iid)
    assert [h.activity_id for h in history] == ["pay:1", "pay:2"]
    assert history[0].event_data["result"] == {"paid": 1.5}
    assert history[1]["event_type"] == "ActivityCompleted"


async def test_caller_chosen_instance_id_is_idempotent(app: EddaApp) -> None:
    runs = 0

    @activity
    async def work(ctx: WorkflowContext) -> int:
        nonlocal runs
        runs += 1
        return runs

    @workflow
    async def once(ctx: WorkflowContext, n: int) -> int:
        return await work(ctx)

    first = await once.start(instance_id="order-42", n=1)
    second = await once.start(instance_id="order-42", n=2)
    assert first == second == "order-42"
    assert await app.wait_for_result("order-42", timeout=5) == 1
    await asyncio.sleep(0.05)
    assert runs == 1
    assert (await app.get_instance("order-42")).input_data == {"n": 1}

    @workflow
    async def other(ctx: WorkflowContext) -> None:
        return None

    with pytest.raises(WorkflowStateError, match="already used by workflow 'once'"):
        await other.start(instance_id="order-42")


async def test_invalid_input_is_rejected_and_stores_nothing(app: EddaApp) -> None:
    @workflow
    async def typed(ctx: WorkflowContext, count: int, price: Money, color: Color = Color.RED) -> None:
        return None

    cases = [
        ({"count": "three", "price": {"amount": 1}}, r"typed\(count=\.\.\.\): expected int, got str"),
        ({"count": 1, "price": {"amount": -5}}, r"not a valid Money"),
        ({"count": 1, "price": {"amount": 1}, "color": "green"}, r"'green' is not a Color"),
        ({"count": 1}, r"missing required argument\(s\): price"),
        ({"count": 1, "price": {"amount": 1}, "bogus": 2}, r"unknown argument\(s\) 'bogus'; it accepts: count, price"),
        ({"count": True, "price": {"amount": 1}}, r"expected int, got bool"),
    ]
    for kwargs, message in cases:
        with pytest.raises(InvalidInputError, match=message):
            await typed.start(**kwargs)
    assert (await app.find_instances())["instances"] == []


async def test_unserializable_input_is_rejected(app: EddaApp) -> None:
    @workflow
    async def loose(ctx: WorkflowContext, thing: object) -> None:
        return None

    with pytest.raises(SerializationError, match=r"loose\(thing=\.\.\.\) is a builtins.object"):
        await loose.start(thing=object())
    assert (await app.find_instances())["instances"] == []


async def test_pydantic_enum_and_dataclass_round_trip(app: EddaApp) -> None:
    seen: list[object] = []

    @activity
    async def convert(ctx: WorkflowContext, price: Money) -> Money:
        return Money(amount=price.amount * 2, currency="USD")

    @activity
    async def pick(ctx: WorkflowContext) -> Color:
        return Color.BLUE

    @activity
    async def locate(ctx: WorkflowContext) -> Point:
        return Point(1, 2)

    @workflow
    async def typed_flow(ctx: WorkflowContext, price: Money, color: Color) -> Money:
        seen.extend([price, color])
        doubled = await convert(ctx, price)
        seen.extend([doubled, await pick(ctx), await locate(ctx)])
        return doubled

    iid = await typed_flow.start(price={"amount": 2.5}, color="red")
    result = await app.wait_for_result(iid, timeout=5)
    assert result == Money(amount=5.0, currency="USD")
    assert seen == [Money(amount=2.5), Color.RED, Money(amount=5.0, currency="USD"), Color.BLUE, Point(1, 2)]
    assert (await app.get_instance(iid)).input_data == {"price": {"amount": 2.5, "currency": "EUR"}, "color": "red"}


async def test_bytes_results_stay_bytes(app: EddaApp) -> None:
    blob = bytes(range(256))

    @activity
    async def produce(ctx: WorkflowContext) -> bytes:
        return blob

    @workflow
    async def binary(ctx: WorkflowContext) -> bytes:
        data = await produce(ctx)
        assert isinstance(data, bytes)
        return data + b"!"

    iid = await binary.start()
    assert await app.wait_for_result(iid, timeout=5) == blob + b"!"
    history = await app.storage.get_history(iid)
    assert history[0].payload == blob and history[0].event_data["result_encoding"] == "bytes"
    assert (await app.get_instance(iid)).output_data == blob + b"!"


async def test_sync_activity_runs_in_a_thread_without_blocking_the_loop(app: EddaApp) -> None:
    release = threading.Event()
    threads: list[str] = []

    @activity
    def blocking(ctx: WorkflowContext, value: int) -> int:
        threads.append(threading.current_thread().name)
        assert release.wait(5)
        return value + 1

    @workflow
    async def uses_sync(ctx: WorkflowContext) -> int:
        return await blocking(ctx, 41)

    iid = await uses_sync.start()
    ticks = 0
    for _ in range(20):  # the loop keeps running while the activity blocks its thread
        await asyncio.sleep(0.005)
        ticks += 1
    release.set()
    assert await app.wait_for_result(iid, timeout=5) == 42
    assert ticks == 20 and threads and threads[0] != threading.main_thread().name


async def test_manual_and_automatic_ids(app: EddaApp) -> None:
    @activity
    async def step(ctx: WorkflowContext, n: int) -> int:
        return n

    @workflow
    async def ids(ctx: WorkflowContext) -> list[int]:
        a = await step(ctx, 1)
        b = await step(ctx, 2, activity_id="custom")
        c = await step(ctx, 3)
        return [a, b, c]

    iid = await ids.start()
    assert await app.wait_for_result(iid, timeout=5) == [1, 2, 3]
    assert [h.activity_id for h in await app.storage.get_history(iid)] == ["step:1", "custom", "step:2"]


async def test_duplicate_manual_id_fails_the_workflow_with_a_clear_error(app: EddaApp) -> None:
    @activity
    async def step(ctx: WorkflowContext) -> int:
        return 1

    @workflow
    async def dup(ctx: WorkflowContext) -> None:
        await step(ctx, activity_id="x")
        await step(ctx, activity_id="x")

    iid = await dup.start()
    with pytest.raises(WorkflowFailedError, match="Step id 'x' is used twice"):
        await app.wait_for_result(iid, timeout=5)


async def test_gather_without_manual_ids_is_deterministic(app: EddaApp) -> None:
    @activity
    async def slow(ctx: WorkflowContext, n: int) -> int:
        await asyncio.sleep(0.01 * (5 - n))  # finish in reverse order of calling
        return n * 10

    @workflow
    async def fan_out(ctx: WorkflowContext) -> list[int]:
        return list(await asyncio.gather(*(slow(ctx, n) for n in range(5))))

    iid = await fan_out.start()
    assert await app.wait_for_result(iid, timeout=5) == [0, 10, 20, 30, 40]
    history = await app.storage.get_history(iid)
    by_id = {h.activity_id: h.event_data["result"] for h in history}
    assert by_id == {f"slow:{n + 1}": n * 10 for n in range(5)}
    assert [h.activity_id for h in history] != sorted(by_id)  # completion order differs from call order


async def test_wait_for_result_errors(app: EddaApp) -> None:
    with pytest.raises(WorkflowNotFoundError):
        await app.wait_for_result("nope", timeout=1)

    gate = asyncio.Event()

    @activity
    async def hold(ctx: WorkflowContext) -> None:
        await gate.wait()

    @workflow
    async def slow_flow(ctx: WorkflowContext) -> None:
        await hold(ctx)

    iid = await slow_flow.start()
    with pytest.raises(TimeoutError, match="did not finish within 0.05 s"):
        await app.wait_for_result(iid, timeout=0.05)
    gate.set()
    assert await app.wait_for_result(iid, timeout=5) is None


async def test_workflow_run_helper_and_registry(app: EddaApp) -> None:
    @workflow
    async def add(ctx: WorkflowContext, a: int, b: int) -> int:
        return a + b

    assert await add.run(a=2, b=3, timeout=5) == 5
    assert get_all_workflows()["add"] is add
    assert await app.start_workflow("add", {"a": 1, "b": 1})
    with pytest.raises(WorkflowNotFoundError, match="No workflow named 'missing'"):
        await app.start_workflow("missing", {})


def test_decorator_validation() -> None:
    with pytest.raises(ConfigurationError, match="needs an async function"):
        workflow(lambda ctx: None)
    with pytest.raises(ConfigurationError, match="reserved for start"):

        @workflow
        async def bad(ctx: WorkflowContext, instance_id: str) -> None: ...

    with pytest.raises(ConfigurationError, match="lock_timeout_seconds must be a positive"):

        @workflow(lock_timeout_seconds=0)
        async def zero(ctx: WorkflowContext) -> None: ...


async def test_activity_needs_a_context() -> None:
    @activity
    async def act(ctx: WorkflowContext) -> None: ...

    with pytest.raises(TypeError, match="must be called with the WorkflowContext first"):
        await act("not a ctx")  # type: ignore[arg-type]


async def test_start_without_an_app_explains_what_to_do() -> None:
    @workflow
    async def lonely(ctx: WorkflowContext) -> None: ...

    with pytest.raises(RuntimeError, match="No EddaApp is running"):
        await lonely.start()


async def test_app_option_validation() -> None:
    with pytest.raises(ConfigurationError, match="broker_url must be an http"):
        EddaApp(db_url="memory://", outbox_enabled=True, broker_url="broker.local:8080")
    with pytest.raises(ConfigurationError, match="max_workflows_per_batch"):
        EddaApp(db_url="memory://", max_workflows_per_batch=0)
    with pytest.raises(ConfigurationError, match="service_name"):
        EddaApp(service_name="", db_url="memory://")


async def test_async_context_manager_and_memory_url() -> None:
    @workflow
    async def hello(ctx: WorkflowContext, name: str) -> str:
        return f"hello {name}"

    async with EddaApp(db_url="memory://") as app:
        iid = await hello.start(name="edda")
        assert await app.wait_for_result(iid, timeout=5) == "hello edda"
    with pytest.raises(RuntimeError, match="initialize"):
        await app.start_workflow(hello, {"name": "x"})


async def test_result_not_serializable_fails_the_workflow(app: EddaApp) -> None:
    @workflow
    async def returns_object(ctx: WorkflowContext) -> object:
        return object()

    iid = await returns_object.start()
    with pytest.raises(WorkflowFailedError, match="SerializationError"):
        await app.wait_for_result(iid, timeout=5)


async def test_activity_with_unserializable_result_fails_terminally(app: EddaApp) -> None:
    attempts = 0

    @activity
    async def weird(ctx: WorkflowContext) -> object:
        nonlocal attempts
        attempts += 1
        return {1: "int key"}

    @workflow
    async def wf_weird(ctx: WorkflowContext) -> str:
        try:
            await weird(ctx)
        except SerializationError as exc:
            return f"caught: {exc}"
        return "no"

    iid = await wf_weird.start()
    result = await app.wait_for_result(iid, timeout=5)
    assert "stored dicts need str keys" in result
    assert attempts == 1  # the side effects already happened: never retried
