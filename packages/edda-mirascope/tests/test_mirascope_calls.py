"""``call``, ``call_with_messages`` and ``@durable_call`` against the real Mirascope library and its OpenAI
provider, talking HTTP to the stand-in on 127.0.0.1: what is sent, what is recorded, and that a replay sends
nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from mirascope import llm
from pydantic import BaseModel

from edda import EddaApp, WorkflowContext, WorkflowFailedError, send_event, wait_event, workflow
from edda_mirascope import DurableResponse, call, call_with_messages, durable_call

from .conftest import step_names, wait_status
from .mirascope_standin import Reply, Request, StandIn


class Book(BaseModel):
    title: str
    pages: int


def answer_with_what_was_sent(request: Request) -> Reply:
    """Echo the system and user texts, so a test can see the request the provider got."""
    if request.json_schema is not None or "JSON" in " ".join(request.texts("system")):
        return Reply(text=json.dumps({"title": f"About {request.last_user_text}", "pages": 320}))
    return Reply(text=f"system={request.texts('system')} user={request.texts('user')}")


@workflow
async def mira_plain(ctx: WorkflowContext, question: str, system: str | None = None) -> dict:
    return await call(ctx, model="openai/gpt-4o-mini", prompt=question, system=system)


async def test_a_plain_call_is_one_request_and_a_recorded_step(app: EddaApp, standin: StandIn) -> None:
    standin.handler = answer_with_what_was_sent
    iid = await mira_plain.start(question="What is Edda?")
    result = await app.wait_for_result(iid, timeout=30)

    assert result["content"] == "system=[] user=['What is Edda?']"
    assert (result["model"], result["provider"], result["stop_reason"]) == ("openai/gpt-4o-mini", "openai", "stop")
    assert result["usage"]["input_tokens"] == 12 and result["usage"]["output_tokens"] == 7
    assert result["usage"]["total_tokens"] == 19
    assert result["tool_calls"] == [] and result["parsed"] is None
    assert result["raw"]["object"] == "response" and result["raw"]["id"] == "resp_0001"
    # Mirascope's OpenAI provider uses the Responses API for this model.
    (request,) = standin.requests
    assert (request.path, request.model) == ("/v1/responses", "gpt-4o-mini")
    assert await step_names(app, iid) == ["mirascope.call:1"]


async def test_a_system_prompt_is_sent_before_the_question(app: EddaApp, standin: StandIn) -> None:
    standin.handler = answer_with_what_was_sent
    iid = await mira_plain.start(question="Hi", system="Answer in French.")
    result = await app.wait_for_result(iid, timeout=30)
    assert result["content"] == "system=['Answer in French.'] user=['Hi']"
    items = standin.requests[0].body["input"]
    assert [i["role"] for i in items] == ["developer", "user"]  # the Responses API's name for the system role


@workflow
async def mira_completions(ctx: WorkflowContext) -> dict:
    return await call(ctx, model="openai/gpt-4o-mini:completions", prompt="Hi", system="Be brief.", temperature=0.3)


async def test_the_chat_completions_api_and_parameters(app: EddaApp, standin: StandIn) -> None:
    standin.handler = answer_with_what_was_sent
    result = await app.wait_for_result(await mira_completions.start(), timeout=30)
    assert result["content"] == "system=['Be brief.'] user=['Hi']"
    assert result["raw"]["object"] == "chat.completion"
    (request,) = standin.requests
    assert request.path == "/v1/chat/completions"
    assert request.body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert request.body["temperature"] == 0.3


@workflow
async def mira_conversation(ctx: WorkflowContext) -> dict:
    messages = [
        {"role": "user", "content": "My name is Ada."},
        {"role": "assistant", "content": "Hello Ada!"},
        {"role": "user", "content": "What is my name?"},
    ]
    return await call_with_messages(ctx, model="openai/gpt-4o-mini", messages=messages, system="Remember names.")


async def test_call_with_messages_sends_the_whole_conversation(app: EddaApp, standin: StandIn) -> None:
    standin.handler = answer_with_what_was_sent
    iid = await mira_conversation.start()
    result = await app.wait_for_result(iid, timeout=30)
    assert result["content"] == "system=['Remember names.'] user=['My name is Ada.', 'What is my name?']"
    (request,) = standin.requests
    assert request.texts("assistant") == ["Hello Ada!"]
    assert [i["role"] for i in request.body["input"]] == ["developer", "user", "assistant", "user"]
    assert await step_names(app, iid) == ["mirascope.call_with_messages:1"]


@durable_call("openai/gpt-4o-mini", max_tokens=50)
def recommend(genre: str) -> str:
    """Recommend a book."""
    return f"Recommend a {genre} book"


@durable_call("openai/gpt-4o-mini:completions")
async def recommend_async(genre: str, *, mood: str = "calm") -> list[llm.Message]:
    return [llm.messages.system(f"You are {mood}."), llm.messages.user(f"A {genre} book?")]


@workflow
async def mira_decorated(ctx: WorkflowContext) -> list[str]:
    first = await recommend(ctx, "fantasy")
    second = await recommend_async(ctx, "poetry", mood="cheerful")
    again = await recommend(ctx, genre="history")
    return [first["content"], second["content"], again["content"]]


async def test_durable_call_wraps_a_prompt_function_in_an_activity(app: EddaApp, standin: StandIn) -> None:
    standin.handler = answer_with_what_was_sent
    iid = await mira_decorated.start()
    assert await app.wait_for_result(iid, timeout=30) == [
        "system=[] user=['Recommend a fantasy book']",
        "system=['You are cheerful.'] user=['A poetry book?']",
        "system=[] user=['Recommend a history book']",
    ]
    assert await step_names(app, iid) == ["recommend:1", "recommend_async:1", "recommend:2"]
    assert standin.requests[0].body["max_output_tokens"] == 50
    assert [r.path for r in standin.requests] == ["/v1/responses", "/v1/chat/completions", "/v1/responses"]
    assert recommend.name == "recommend" and recommend.__doc__ == "Recommend a book."


@durable_call("openai/gpt-4o-mini", response_model=Book)
def describe(topic: str) -> str:
    return topic


@durable_call("openai/gpt-4o-mini", response_model=Book, json_mode=True)
def describe_json(topic: str) -> str:
    return topic


@workflow
async def mira_structured(ctx: WorkflowContext) -> list[dict]:
    strict = await describe(ctx, "whales")
    loose = await describe_json(ctx, "ships")
    direct = await call(ctx, model="openai/gpt-4o-mini", prompt="trains", response_model=Book)
    return [strict, loose, direct]


async def test_response_model_is_validated_and_recorded(app: EddaApp, standin: StandIn) -> None:
    standin.handler = answer_with_what_was_sent
    strict, loose, direct = await app.wait_for_result(await mira_structured.start(), timeout=30)
    assert strict["parsed"] == {"title": "About whales", "pages": 320}
    assert DurableResponse.from_dict(loose).parse(Book) == Book(title="About ships", pages=320)
    assert DurableResponse.from_dict(direct).parse(Book).title == "About trains"
    strict_request, json_request, _ = standin.requests
    # Strict mode sends the model's JSON schema; JSON mode asks for a JSON object and says which one in the prompt.
    assert set(strict_request.json_schema["properties"]) == {"title", "pages"}  # type: ignore[index]
    assert json_request.body["text"]["format"] == {"type": "json_object"}
    assert '"pages"' in json_request.texts("system")[0]


async def test_output_that_does_not_match_the_response_model_is_retried(app: EddaApp, standin: StandIn) -> None:
    def sometimes_wrong(request: Request) -> Reply:
        if standin.count() == 1:
            return Reply(text='{"title": "Missing pages"}')
        return Reply(text='{"title": "Fixed", "pages": 1}')

    standin.handler = sometimes_wrong
    strict, *_ = await app.wait_for_result(await mira_structured.start(), timeout=30)
    assert strict["parsed"] == {"title": "Fixed", "pages": 1}
    assert standin.count(lambda r: r.last_user_text == "whales") == 2


@workflow
async def mira_then_wait(ctx: WorkflowContext, topic: str) -> list[str]:
    answer = await call(ctx, model="openai/gpt-4o-mini", prompt=topic)
    event = await wait_event(ctx, f"mira.go.{topic}")
    return [answer["content"], event.data["note"]]


async def test_a_replay_in_a_later_run_returns_the_recorded_answer_without_a_request(
    db_url: str, standin: StandIn
) -> None:
    async with EddaApp(service_name="first", db_url=db_url) as first:
        iid = await mira_then_wait.start(topic="tides")
        await wait_status(first, iid, "waiting_for_event")
    assert standin.count() == 1
    standin.handler = lambda r: Reply(text="a different answer")  # a new call would get this
    async with EddaApp(service_name="second", db_url=db_url) as second:  # a fresh app: the workflow replays
        await send_event("mira.go.tides", "test", {"note": "resumed"})
        assert await second.wait_for_result(iid, timeout=30) == ["echo: tides", "resumed"]
    assert standin.count() == 1


@workflow
async def mira_flaky(ctx: WorkflowContext) -> str:
    return (await call(ctx, model="openai/gpt-4o-mini", prompt="flaky"))["content"]


async def test_a_server_error_is_retried_by_the_activity(app: EddaApp, standin: StandIn) -> None:
    def fail_once(request: Request) -> Reply:
        if standin.count() == 1:
            # x-should-retry: false stops the OpenAI SDK's own retries, so the activity's retry policy is what
            # makes the second request (without it the SDK would retry twice inside one attempt).
            return Reply(status=500, error="The server had an error", headers=(("x-should-retry", "false"),))
        return Reply(text="fine now")

    standin.handler = fail_once
    iid = await mira_flaky.start()
    assert await app.wait_for_result(iid, timeout=30) == "fine now"
    assert standin.count() == 2
    history = list(await app.storage.get_history(iid))
    attempts = [e for e in history if e.event_type == "ActivityAttemptFailed"]
    assert len(attempts) == 1 and attempts[0].event_data["error"]["error_type"] == "ServerError"


async def test_a_bad_request_fails_at_once_with_a_clear_error(app: EddaApp, standin: StandIn) -> None:
    standin.handler = lambda r: Reply(status=400, error="Invalid value for 'temperature': must be <= 2.")
    iid = await mira_flaky.start()
    with pytest.raises(WorkflowFailedError) as failure:
        await app.wait_for_result(iid, timeout=30)
    assert failure.value.error_type == "LLMCallError"
    message = failure.value.error_message
    assert "refused the LLM call to 'openai/gpt-4o-mini' (HTTP 400" in message
    assert "Invalid value for 'temperature'" in message and "not retried" in message
    assert standin.count() == 1  # QUICK_RETRY allows 3 attempts: a 400 used one


@workflow
async def mira_unconfigured(ctx: WorkflowContext) -> Any:
    return await call(ctx, model="nosuchprovider/some-model", prompt="hi")


async def test_a_model_without_a_provider_fails_at_once(app: EddaApp, standin: StandIn) -> None:
    with pytest.raises(WorkflowFailedError) as failure:
        await app.wait_for_result(await mira_unconfigured.start(), timeout=30)
    assert failure.value.error_type == "LLMCallError"
    assert "No provider registered for model 'nosuchprovider/some-model'" in failure.value.error_message
    assert standin.count() == 0


def test_bad_options_are_refused_where_the_call_is_written() -> None:
    with pytest.raises(ValueError, match=r"'provider/model' string .* got 'gpt-4o-mini'"):
        durable_call("gpt-4o-mini")
    with pytest.raises(TypeError, match=r"unknown LLM parameter temprature; the parameters are .*temperature"):
        durable_call("openai/gpt-4o-mini", temprature=0.2)
    with pytest.raises(ValueError, match="json_mode=True needs response_model"):
        durable_call("openai/gpt-4o-mini", json_mode=True)
    with pytest.raises(TypeError, match="with parentheses"):
        durable_call(describe)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"tools\[0\] is a int"):
        durable_call("openai/gpt-4o-mini", tools=[3])


@workflow
async def mira_bad_messages(ctx: WorkflowContext, case: str) -> Any:
    if case == "role":
        return await call_with_messages(ctx, model="openai/gpt-4o-mini", messages=[{"role": "robot", "content": "x"}])
    if case == "args":
        return await recommend(ctx, "a", "b")  # one argument too many
    return await call(ctx, model="openai", prompt="x")


@pytest.mark.parametrize(
    ("case", "error"),
    [
        ("role", "messages[0] has role 'robot'; the roles are system, user, assistant, tool"),
        ("args", "recommend() takes the prompt function's arguments after ctx: `await recommend(ctx, genre)`"),
        ("model", "call(): model must be a 'provider/model' string"),
    ],
)
async def test_bad_input_in_a_workflow_fails_without_a_request(
    app: EddaApp, standin: StandIn, case: str, error: str
) -> None:
    iid = await mira_bad_messages.start(case=case)
    with pytest.raises(WorkflowFailedError) as failure:
        await app.wait_for_result(iid, timeout=30)
    assert error in failure.value.error_message
    assert standin.count() == 0 and await step_names(app, iid) == []
