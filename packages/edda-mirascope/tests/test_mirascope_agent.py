"""``DurableAgent`` and ``DurableDeps``: multi-turn chat and the tool loop, each LLM call and each tool call a
durable step, against the real Mirascope library and the stand-in."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from mirascope import llm

from edda import (
    EddaApp,
    TerminalError,
    WorkflowContext,
    WorkflowFailedError,
    activity,
    send_event,
    wait_event,
    workflow,
)
from edda_mirascope import DurableAgent, DurableDeps, ToolLoopLimitError

from .conftest import step_names, wait_status
from .mirascope_standin import Reply, Request, StandIn

ran: Counter[str] = Counter()  # tool executions in this process


def forecast(city: str) -> str:
    """The weather forecast for a city."""
    ran[f"forecast {city}"] += 1
    return f"sunny in {city}"


@activity
async def population(ctx: WorkflowContext, city: str) -> int:
    """How many people live in a city."""
    ran[f"population {city}"] += 1
    return {"Oslo": 709_000, "Rome": 2_750_000}[city]


class TravelAgent(DurableAgent[dict[str, Any]]):
    model = "openai/gpt-4o-mini"
    system_prompt = "You plan trips."
    tools = (forecast, population)


def plan_with_tools(request: Request) -> Reply:
    """First ask for two tools, then answer from their results."""
    if not request.tool_outputs:
        return Reply(tool_calls=(("forecast", {"city": "Oslo"}), ("population", {"city": "Rome"})))
    results = "; ".join(output for _id, output in request.tool_outputs)
    return Reply(text=f"Plan based on: {results}")


@workflow
async def mira_trip(ctx: WorkflowContext, question: str) -> dict[str, Any]:
    agent = TravelAgent(ctx)
    deps = DurableDeps(data={"traveller": "Ada"})
    response = await agent.chat_with_tool_loop(deps, question)
    event = await wait_event(ctx, f"mira.trip.{ctx.instance_id}")  # the run suspends here, and replays after
    return {"answer": response.content, "history": deps.history, "note": event.data["note"]}


async def test_the_tool_loop_runs_two_tools_then_answers(app: EddaApp, standin: StandIn) -> None:
    ran.clear()
    standin.handler = plan_with_tools
    iid = await mira_trip.start(question="Oslo or Rome?")
    await wait_status(app, iid, "waiting_for_event")
    assert ran == {"forecast Oslo": 1, "population Rome": 1}
    assert await step_names(app, iid) == [
        "TravelAgent.llm:1",
        "TravelAgent.tool.forecast:1",
        "population:1",  # an @activity tool is its own step
        "TravelAgent.llm:2",
    ]
    first, second = standin.requests
    assert first.tool_names == ["forecast", "population"] and first.texts("system") == ["You plan trips."]
    # The second request carries the model's tool calls and their results, matched by call id.
    calls = [i for i in second.body["input"] if i.get("type") == "function_call"]
    assert [c["name"] for c in calls] == ["forecast", "population"]
    assert second.tool_outputs == [(calls[0]["call_id"], "sunny in Oslo"), (calls[1]["call_id"], "2750000")]

    await send_event(f"mira.trip.{iid}", "test", {"note": "go"})
    result = await app.wait_for_result(iid, timeout=30)
    assert result["answer"] == "Plan based on: sunny in Oslo; 2750000"
    # The replay after the event made no request and ran no tool again.
    assert standin.count() == 2 and ran == {"forecast Oslo": 1, "population Rome": 1}
    roles = [m["role"] for m in result["history"]]
    assert roles == ["user", "assistant", "tool", "tool", "assistant"]
    assert result["history"][1]["tool_calls"][0]["args"] == {"city": "Oslo"}
    assert result["history"][2]["content"] == "sunny in Oslo" and result["history"][3]["content"] == 2750000


class Chatty(DurableAgent[str]):
    model = "openai/gpt-4o-mini:completions"
    params = {"temperature": 0.5}  # noqa: RUF012 - a read-only class setting

    def build_prompt(self, deps: DurableDeps[str], message: str) -> list[Any]:
        return [{"role": "system", "content": f"The user is {deps.data}."}, *deps.history, llm.messages.user(message)]


@workflow
async def mira_chat(ctx: WorkflowContext) -> list[Any]:
    agent = Chatty(ctx)
    deps = DurableDeps(data="Grace")
    one = await agent.chat(deps, "Hello")
    two = await agent.chat(deps, "Again")
    return [one.content, two.content, deps.history]


async def test_chat_keeps_the_conversation_in_the_deps(app: EddaApp, standin: StandIn) -> None:
    standin.handler = lambda r: Reply(text=f"{r.texts('system')[0]} You said {r.texts('user')}")
    iid = await mira_chat.start()
    one, two, history = await app.wait_for_result(iid, timeout=30)
    assert one == "The user is Grace. You said ['Hello']"
    assert two == "The user is Grace. You said ['Hello', 'Again']"
    assert history == [
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": one},
        {"role": "user", "content": "Again"},
        {"role": "assistant", "content": two},
    ]
    assert standin.requests[1].texts("assistant") == [one]  # the second call saw the first answer
    assert standin.requests[1].body["temperature"] == 0.5
    assert await step_names(app, iid) == ["Chatty.llm:1", "Chatty.llm:2"]


executed: list[tuple[str, dict[str, Any]]] = []


async def run_any_tool(name: str, args: dict[str, Any]) -> dict[str, Any]:
    executed.append((name, args))
    return {"tool": name, "ok": True}


class Dispatcher(DurableAgent[None]):
    model = "openai/gpt-4o-mini"
    name = "dispatch"

    def get_tools(self) -> list[Any]:
        def lookup(key: str) -> str:
            """Look a key up."""
            raise AssertionError("the executor runs the tools")

        return [lookup]


@workflow
async def mira_dispatch(ctx: WorkflowContext, limit: int = 10) -> str:
    agent = Dispatcher(ctx)
    response = await agent.chat_with_tool_loop(DurableDeps(None), "find it", run_any_tool, max_iterations=limit)
    return response.content


async def test_a_tool_executor_runs_each_call_as_a_step(app: EddaApp, standin: StandIn) -> None:
    executed.clear()

    def handler(request: Request) -> Reply:
        if len(request.tool_outputs) < 2:
            return Reply(tool_calls=(("lookup", {"key": f"k{len(request.tool_outputs)}"}),))
        return Reply(text=f"found {[json.loads(o)['tool'] for _i, o in request.tool_outputs]}")

    standin.handler = handler
    iid = await mira_dispatch.start()
    assert await app.wait_for_result(iid, timeout=30) == "found ['lookup', 'lookup']"
    assert executed == [("lookup", {"key": "k0"}), ("lookup", {"key": "k1"})]
    assert await step_names(app, iid) == [
        "dispatch.llm:1",
        "dispatch.tool.lookup:1",
        "dispatch.llm:2",
        "dispatch.tool.lookup:2",
        "dispatch.llm:3",
    ]


async def test_the_loop_stops_after_max_iterations(app: EddaApp, standin: StandIn) -> None:
    standin.handler = lambda r: Reply(tool_calls=(("lookup", {"key": "again"}),))
    iid = await mira_dispatch.start(limit=2)
    with pytest.raises(WorkflowFailedError) as failure:
        await app.wait_for_result(iid, timeout=30)
    assert failure.value.error_type == ToolLoopLimitError.__name__
    assert "still asked for tools after 2 LLM calls (last: lookup)" in failure.value.error_message
    assert standin.count() == 2


class Confused(DurableAgent[None]):
    model = "openai/gpt-4o-mini"
    tools = (forecast,)


@workflow
async def mira_confused(ctx: WorkflowContext) -> str:
    return (await Confused(ctx).chat_with_tool_loop(DurableDeps(None), "weather?")).content


async def test_an_unknown_tool_is_reported_to_the_model(app: EddaApp, standin: StandIn) -> None:
    def handler(request: Request) -> Reply:
        if not request.tool_outputs:
            return Reply(tool_calls=(("teleport", {"to": "Mars"}),))
        return Reply(text=f"model saw: {request.tool_outputs[0][1]}")

    standin.handler = handler
    answer = await app.wait_for_result(await mira_confused.start(), timeout=30)
    assert "There is no tool named 'teleport'. The tools are: forecast." in answer


def refuse(city: str) -> str:
    """A tool that refuses for good."""
    ran["refuse"] += 1
    raise TerminalError(f"no trips to {city}")


class Refuser(DurableAgent[None]):
    model = "openai/gpt-4o-mini"
    tools = (refuse,)


@workflow
async def mira_refused(ctx: WorkflowContext) -> str:
    return (await Refuser(ctx).chat_with_tool_loop(DurableDeps(None), "go")).content


async def test_a_failing_tool_fails_its_step_with_its_own_error(app: EddaApp, standin: StandIn) -> None:
    ran.clear()
    standin.handler = lambda r: Reply(tool_calls=(("refuse", {"city": "Atlantis"}),))
    iid = await mira_refused.start()
    with pytest.raises(WorkflowFailedError) as failure:
        await app.wait_for_result(iid, timeout=30)
    assert failure.value.error_type == "TerminalError" and "no trips to Atlantis" in failure.value.error_message
    assert ran["refuse"] == 1  # a TerminalError is not retried


class Nameless(DurableAgent[None]):
    pass


@workflow
async def mira_nameless(ctx: WorkflowContext) -> None:
    Nameless(ctx)


async def test_an_agent_without_a_model_says_how_to_set_it(app: EddaApp, standin: StandIn) -> None:
    with pytest.raises(WorkflowFailedError) as failure:
        await app.wait_for_result(await mira_nameless.start(), timeout=30)
    assert "Nameless has no model: set model = 'provider/model' on the class (e.g. 'openai/gpt-4o-mini') or " in (
        failure.value.error_message
    )
    assert "pass Nameless(ctx, model=...)" in failure.value.error_message


@llm.tool
def greeting(ctx: llm.Context[dict[str, str]], polite: bool) -> str:
    """Greet the user by name."""
    return f"{'Dear' if polite else 'Hey'} {ctx.deps['name']}"


async def clock(zone: str) -> str:
    """The time in a zone."""
    return f"12:00 in {zone}"


class Concierge(DurableAgent[dict[str, str]]):
    model = "openai/gpt-4o-mini:completions"
    tools = (greeting, clock)


@workflow
async def mira_concierge(ctx: WorkflowContext) -> str:
    response = await Concierge(ctx).chat_with_tool_loop(DurableDeps({"name": "Ada"}), "greet me")
    return response.content


async def test_mirascope_tools_over_chat_completions(app: EddaApp, standin: StandIn) -> None:
    def handler(request: Request) -> Reply:
        if not request.tool_outputs:
            return Reply(tool_calls=(("greeting", {"polite": True}), ("clock", {"zone": "CET"})))
        return Reply(text=" / ".join(output for _id, output in request.tool_outputs))

    standin.handler = handler
    iid = await mira_concierge.start()
    assert await app.wait_for_result(iid, timeout=30) == "Dear Ada / 12:00 in CET"  # the context tool got deps.data
    first, second = standin.requests
    assert first.path == "/v1/chat/completions" and first.tool_names == ["greeting", "clock"]
    assistant, *results = second.body["messages"][1:]
    assert [c["function"]["name"] for c in assistant["tool_calls"]] == ["greeting", "clock"]
    assert [(r["role"], r["tool_call_id"]) for r in results] == [("tool", c["id"]) for c in assistant["tool_calls"]]
    assert await step_names(app, iid) == [
        "Concierge.llm:1",
        "Concierge.tool.greeting:1",
        "Concierge.tool.clock:1",
        "Concierge.llm:2",
    ]
