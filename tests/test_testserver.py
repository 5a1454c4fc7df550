"""The OpenAI test server speaks real HTTP to the real openai SDK and to ag2 agents."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import ag2
import httpx2
import msgspec
import openai
import pytest
from ag2.config import OpenAIConfig
from openai.types.chat import ChatCompletion, ChatCompletionMessageParam

from plancontrol.servers.replies import (
    Drop,
    Empty,
    Malformed,
    ServerReply,
    Slow,
    Status,
    ToolCall,
    ToolCalls,
    Usage,
)
from plancontrol.servers.scripted import Exchange, OpenAITestServer, role_of


class Verdict(msgspec.Struct, frozen=True):
    decision: str
    reason: str


def messages(system: str | None, user: str) -> list[ChatCompletionMessageParam]:
    first: list[ChatCompletionMessageParam] = []
    if system is not None:
        first.append({"role": "system", "content": system})
    return [*first, {"role": "user", "content": user}]


def complete(
    server: OpenAITestServer,
    system: str | None = "You are the planner. Plan.",
    user: str = "write the plan",
    *,
    model: str = "test-model",
    timeout: float = 5.0,
) -> ChatCompletion:
    """One chat completion through the real openai SDK, without retries."""
    with openai.OpenAI(
        base_url=server.base_url, api_key="test", max_retries=0, timeout=timeout
    ) as client:
        return client.chat.completions.create(model=model, messages=messages(system, user))


def content(completion: ChatCompletion) -> str | None:
    return completion.choices[0].message.content


@pytest.mark.slow
def test_plain_text_reply_comes_back_with_word_counts_as_usage() -> None:
    with OpenAITestServer({"planner": ["step one, step two"]}) as server:
        completion = complete(server)
    assert content(completion) == "step one, step two"
    assert completion.choices[0].finish_reason == "stop"
    assert (completion.id, completion.created, completion.model) == (
        "chatcmpl-test-0",
        1700000000,
        "test-model",
    )
    assert completion.usage is not None
    usage = completion.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (8, 4, 12)
    assert server.unused == {}


@pytest.mark.slow
def test_usage_wrapper_fixes_the_reported_figures() -> None:
    script: list[ServerReply] = [
        Usage("plan", prompt_tokens=1000, completion_tokens=7),
        Slow(0.01, then=Usage("late plan", completion_tokens=9)),
    ]
    with OpenAITestServer({"planner": script}) as server:
        reported = [complete(server).usage for _ in script]
    assert [(u.prompt_tokens, u.completion_tokens) for u in reported if u] == [(1000, 7), (8, 9)]
    assert [(e.prompt_tokens, e.completion_tokens) for e in server.log] == [(1000, 7), (8, 9)]


@pytest.mark.slow
def test_struct_and_dict_replies_arrive_as_json_text() -> None:
    script: list[ServerReply] = [Verdict("success", "ok"), {"steps": [1, 2]}]
    with OpenAITestServer({"judge": script}) as server:
        first = complete(server, "You are the judge.")
        second = complete(server, "You are the judge.")
    assert content(first) == '{"decision":"success","reason":"ok"}'
    assert content(second) == '{"steps":[1,2]}'


@pytest.mark.slow
def test_tool_calls_come_back_as_function_calls_with_numbered_ids() -> None:
    calls = ToolCalls((ToolCall("search", {"query": "cats"}), ToolCall("read", {"path": "a"})))
    with OpenAITestServer({"planner": [calls]}) as server:
        completion = complete(server)
    choice = completion.choices[0]
    assert (choice.finish_reason, choice.message.content) == ("tool_calls", None)
    assert choice.message.tool_calls is not None
    assert [
        (c.id, c.type, c.function.name, c.function.arguments)  # type: ignore[union-attr]
        for c in choice.message.tool_calls
    ] == [
        ("call_1", "function", "search", '{"query":"cats"}'),
        ("call_2", "function", "read", '{"path":"a"}'),
    ]
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 2


@pytest.mark.slow
def test_requests_route_by_system_prompt_name_else_by_model() -> None:
    script = {"plan_reviewer": ["reviewed"], "gpt-x": ["by model"], "test-model": ["default"]}
    with OpenAITestServer(script) as server:
        assert content(complete(server, "You are the plan_reviewer. Be strict.")) == "reviewed"
        assert content(complete(server, "Be helpful.", model="gpt-x")) == "by model"
        assert content(complete(server, None)) == "default"
    assert [e.key for e in server.log] == ["plan_reviewer", "gpt-x", "test-model"]


def test_role_of_reads_developer_messages_and_text_parts() -> None:
    parts = [{"type": "text", "text": "You are the researcher, thorough."}]
    body = {"model": "m", "messages": [{"role": "developer", "content": parts}]}
    assert role_of(body) == "researcher"
    later = {"model": "m", "messages": [{"role": "user", "content": "You are the judge"}]}
    assert role_of(later) == "m"


@pytest.mark.slow
def test_each_key_plays_its_own_script_in_order() -> None:
    with OpenAITestServer({"planner": ["p1", "p2"], "judge": ["j1"]}) as server:
        answers = [
            content(complete(server, "You are the planner.")),
            content(complete(server, "You are the judge.")),
            content(complete(server, "You are the planner.")),
        ]
    assert answers == ["p1", "j1", "p2"]
    assert server.unused == {}


@pytest.mark.slow
def test_an_exhausted_script_answers_500_with_an_openai_error() -> None:
    with OpenAITestServer({"planner": ["only"], "judge": ["unplayed"]}) as server:
        complete(server)
        with pytest.raises(openai.InternalServerError) as raised:
            complete(server)
    assert raised.value.status_code == 500
    assert raised.value.body == {
        "message": "test server: no scripted reply left for 'planner'",
        "type": "server_error",
        "param": None,
        "code": None,
    }
    assert [e.status for e in server.log] == [200, 500]
    assert server.unused == {"judge": 1}


@pytest.mark.slow
def test_log_keeps_every_exchange_in_order_with_its_body() -> None:
    with OpenAITestServer({"planner": ["a", "bb cc"]}) as server:
        complete(server, user="first")
        complete(server, user="second one")
        with openai.OpenAI(base_url=server.base_url, api_key="t", max_retries=0) as client:
            models = client.models.list()
    assert [m.id for m in models.data] == ["test-model"]
    first, second, listing = server.log
    assert first == Exchange(
        index=0,
        method="POST",
        path="/v1/chat/completions",
        key="planner",
        body={"model": "test-model", "messages": messages("You are the planner. Plan.", "first")},
        status=200,
        reply_text="a",
        prompt_tokens=6,
        completion_tokens=1,
        authorization="Bearer test",
    )
    assert (second.index, second.body["messages"][1]["content"], second.reply_text) == (
        1,
        "second one",
        "bb cc",
    )
    assert (listing.index, listing.method, listing.path, listing.status) == (
        2,
        "GET",
        "/v1/models",
        200,
    )


@pytest.mark.slow
def test_an_unknown_path_is_a_json_404() -> None:
    with OpenAITestServer({}) as server, httpx2.Client() as http:
        response = http.post(f"{server.base_url}/responses", json={"model": "m"})
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "test server: no route for POST /v1/responses"
    assert [(e.path, e.status) for e in server.log] == [("/v1/responses", 404)]


@pytest.mark.slow
def test_status_429_sends_retry_after_to_the_client() -> None:
    fault = Status(429, retry_after=2, message="slow down")
    with (
        OpenAITestServer({"planner": [fault]}) as server,
        pytest.raises(openai.RateLimitError) as raised,
    ):
        complete(server)
    assert raised.value.status_code == 429
    assert raised.value.response.headers["retry-after"] == "2"
    assert raised.value.body == {
        "message": "slow down",
        "type": "rate_limit_error",
        "param": None,
        "code": None,
    }


@pytest.mark.slow
def test_status_500_raises_an_internal_server_error() -> None:
    with (
        OpenAITestServer({"planner": [Status()]}) as server,
        pytest.raises(openai.InternalServerError) as raised,
    ):
        complete(server)
    assert raised.value.status_code == 500
    assert "retry-after" not in raised.value.response.headers
    assert server.log[0].status == 500


@pytest.mark.slow
def test_a_client_retries_a_429_after_the_retry_after_delay() -> None:
    script: list[ServerReply] = [Status(429, retry_after=0.2), "after the wait"]
    with (
        OpenAITestServer({"planner": script}) as server,
        openai.OpenAI(base_url=server.base_url, api_key="t", max_retries=1) as client,
    ):
        started = time.monotonic()
        completion = client.chat.completions.create(
            model="test-model", messages=messages("You are the planner.", "go")
        )
        waited = time.monotonic() - started
    assert content(completion) == "after the wait"
    assert [e.status for e in server.log] == [429, 200]
    assert 0.2 <= waited < 2


@pytest.mark.slow
def test_slow_reply_beyond_the_client_timeout_raises_a_timeout() -> None:
    with OpenAITestServer({"planner": [Slow(5, then="too late")]}) as server:
        started = time.monotonic()
        with pytest.raises(openai.APITimeoutError):
            complete(server, timeout=0.5)
    assert time.monotonic() - started < 2
    assert (server.log[0].status, server.log[0].reply_text) == (200, "too late")


@pytest.mark.slow
def test_slow_reply_within_the_timeout_is_answered() -> None:
    with OpenAITestServer({"planner": [Slow(0.1, then="in time")]}) as server:
        assert content(complete(server, timeout=5)) == "in time"


@pytest.mark.slow
def test_drop_closes_the_connection_without_a_response() -> None:
    with (
        OpenAITestServer({"planner": [Drop()]}) as server,
        pytest.raises(openai.APIConnectionError) as raised,
    ):
        complete(server)
    assert not isinstance(raised.value, openai.APITimeoutError)
    assert server.log[0].status == 0


@pytest.mark.slow
def test_malformed_body_fails_to_parse_on_the_client() -> None:
    with (
        OpenAITestServer({"planner": [Malformed()]}) as server,
        pytest.raises(ValueError, match="Expecting value"),
    ):
        complete(server)
    assert server.log[0].status == 200


@pytest.mark.slow
def test_empty_reply_has_empty_content() -> None:
    with OpenAITestServer({"planner": [Empty()]}) as server:
        completion = complete(server)
    assert content(completion) == ""
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 0


@pytest.mark.slow
def test_a_streaming_request_gets_chunks_then_usage() -> None:
    with (
        OpenAITestServer({"planner": ["streamed reply text"]}) as server,
        openai.OpenAI(base_url=server.base_url, api_key="t", max_retries=0) as client,
        client.chat.completions.create(
            model="test-model",
            messages=messages("You are the planner.", "go"),
            stream=True,
            stream_options={"include_usage": True},
        ) as stream,
    ):
        chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "streamed reply text"
    assert [c.choices[0].finish_reason for c in chunks if c.choices] == [None, None, "stop"]
    assert chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (5, 3)


@pytest.mark.slow
def test_a_reply_function_answers_every_request() -> None:
    def echo(body: dict[str, Any]) -> str:
        return f"you said {body['messages'][-1]['content']}"

    with OpenAITestServer(echo) as server:
        assert content(complete(server, user="hi")) == "you said hi"
        assert content(complete(server, user="bye")) == "you said bye"
    assert server.unused == {}


def test_a_single_reply_in_place_of_a_list_is_refused() -> None:
    with pytest.raises(TypeError, match="the replies for 'planner' must be a list of replies"):
        OpenAITestServer({"planner": "one reply"})


def test_base_url_needs_a_running_server() -> None:
    with pytest.raises(RuntimeError, match="not running"):
        _ = OpenAITestServer({}).base_url


def ag2_agent(server: OpenAITestServer, **options: Any) -> ag2.Agent:
    config = OpenAIConfig(
        model="test-model", base_url=server.base_url, api_key="test", max_retries=0, **options
    )
    return ag2.Agent("planner", prompt="You are the planner. Be brief.", config=config)


@pytest.mark.slow
def test_ag2_agent_asks_over_http_and_reports_usage() -> None:
    async def ask(server: OpenAITestServer) -> tuple[str | None, int, int]:
        reply = await ag2_agent(server).ask("Make a plan")
        total = (await reply.usage()).total
        return reply.body, int(total.prompt_tokens or 0), int(total.completion_tokens or 0)

    with OpenAITestServer({"planner": [Usage("1. look 2. leap", completion_tokens=5)]}) as server:
        assert asyncio.run(ask(server)) == ("1. look 2. leap", 9, 5)
    assert server.log[0].body == {
        "model": "test-model",
        "stream": False,
        "messages": [
            {"content": "You are the planner. Be brief.", "role": "system"},
            {"role": "user", "content": "Make a plan"},
        ],
    }


@pytest.mark.slow
def test_ag2_agent_streams_and_runs_tools_against_the_server() -> None:
    def search(query: str) -> str:
        """Search the web."""
        return f"results for {query}"

    async def ask(server: OpenAITestServer) -> str | None:
        agent = ag2.Agent(
            "planner",
            prompt="You are the planner.",
            config=OpenAIConfig(
                model="test-model", base_url=server.base_url, api_key="t", streaming=True
            ),
            tools=[search],
        )
        return (await agent.ask("Find cats")).body

    script: list[ServerReply] = [ToolCalls((ToolCall("search", {"query": "cats"}),)), "found"]
    with OpenAITestServer({"planner": script}) as server:
        assert asyncio.run(ask(server)) == "found"
    follow_up = server.log[1].body["messages"]
    assert follow_up[-1] == {
        "role": "tool",
        "tool_call_id": "call_1",
        "content": "results for cats",
    }
    assert server.log[1].body["stream_options"] == {"include_usage": True}


@pytest.mark.slow
def test_stop_ends_a_request_in_flight_and_releases_the_port() -> None:
    server = OpenAITestServer({"planner": [Slow(30, then="never")]}).start()
    port = urlsplit(server.base_url).port
    assert port is not None
    errors: list[BaseException] = []

    def call() -> None:
        try:
            complete(server, timeout=30)
        except openai.APIError as error:
            errors.append(error)

    client = threading.Thread(target=call)
    client.start()
    deadline = time.monotonic() + 5
    while not server.log and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    server.stop()
    client.join(timeout=5)
    assert time.monotonic() - started < 1
    assert [type(e) for e in errors] == [openai.APIConnectionError]
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1)


# --- strict modes: what real servers refuse, with their error bodies ------------------


def post(server: OpenAITestServer, body: dict[str, Any]) -> tuple[int, Any]:
    """POST ``body`` to the chat completions endpoint; the status and the decoded reply."""
    sent = {"messages": [{"role": "user", "content": "hi"}], **body}
    response = httpx2.post(f"{server.base_url}/chat/completions", json=sent, timeout=5)
    return response.status_code, response.json()


@pytest.mark.slow
def test_strict_openai_refuses_temperature_and_max_tokens_for_reasoning_models() -> None:
    with OpenAITestServer({"o3-mini": ["ok"], "gpt-4o": ["ok"]}, strict="openai") as server:
        cold = post(server, {"model": "o3-mini", "temperature": 0.0})
        capped = post(server, {"model": "gpt-5-mini", "max_tokens": 10})
        effort = post(server, {"model": "gpt-4o", "reasoning_effort": "low"})
        fine = post(server, {"model": "o3-mini", "temperature": 1, "max_completion_tokens": 9})
        chat = post(server, {"model": "gpt-4o", "temperature": 0.0, "max_tokens": 10})
        left = server.unused
    assert cold == (
        400,
        {
            "error": {
                "message": "Unsupported value: 'temperature' does not support 0.0 with this "
                "model. Only the default (1) value is supported.",
                "type": "invalid_request_error",
                "param": "temperature",
                "code": "unsupported_value",
            }
        },
    )
    assert capped[0] == 400
    assert capped[1]["error"]["code"] == "unsupported_parameter"
    assert capped[1]["error"]["message"] == (
        "Unsupported parameter: 'max_tokens' is not supported with this model. Use "
        "'max_completion_tokens' instead."
    )
    assert (effort[0], effort[1]["error"]["param"]) == (400, "reasoning_effort")
    assert (fine[0], chat[0]) == (200, 200)
    assert left == {}  # refusals use up no scripted reply


@pytest.mark.slow
def test_strict_llama_cpp_refuses_json_schema_as_llama_cpp_python_does() -> None:
    schema = {"type": "object"}
    as_schema = {"type": "json_schema", "json_schema": {"name": "V", "schema": schema}}
    with OpenAITestServer({"m": ["{}", "{}"]}, strict="llama.cpp") as server:
        refused = post(server, {"model": "m", "response_format": as_schema})
        accepted = post(server, {"model": "m", "response_format": {"type": "json_object"}})
        plain = post(server, {"model": "m", "temperature": 0.0})
    assert refused[0] == 500
    error = refused[1]["error"]
    assert error["type"] == "internal_server_error"
    assert error["message"].startswith(
        "1 validation error:\n  {'type': 'literal_error', 'loc': ('body', 'response_format', "
        "'type'), 'msg': \"Input should be 'text' or 'json_object'\", 'input': 'json_schema'"
    )
    assert "line 376, in create_chat_completion" in error["message"]
    assert (accepted[0], plain[0]) == (200, 200)
