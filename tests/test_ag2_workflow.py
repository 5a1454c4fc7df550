"""The whole workflow through real ag2 agents over real HTTP to the test server, real code."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from scripts import PRIMES, review

from plancontrol import PLANNING_AND_CONTROL, Context, Effects, Settings, run_pipeline
from plancontrol.core.answers import Code, Verdict
from plancontrol.core.phases.planning import draft_plan
from plancontrol.handlers.ag2_agents import Ag2Agents
from plancontrol.handlers.executor import SubprocessExecutor
from plancontrol.handlers.routes import Route
from plancontrol.handlers.workspace import FolderWorkspace
from plancontrol.testing import (
    Drop,
    FixedClock,
    Malformed,
    OpenAITestServer,
    RecordingEvents,
    ScriptedApprover,
    ScriptedSignals,
    Slow,
    Status,
)

pytestmark = pytest.mark.slow  # every test here starts a process or a server

BROKEN = "print(prime_numbers)\n"
FIXED = (
    "primes = [n for n in range(2, 80) if all(n % d for d in range(2, n))][:20]\n"
    "open('primes.txt', 'w').write(' '.join(map(str, primes)))\n"
    "print(len(primes), 'primes, largest', primes[-1])\n"
)


def effects(agents: Ag2Agents, folder: Path) -> Effects:
    return Effects(
        agents=agents,
        executor=SubprocessExecutor(folder, timeout=30),
        workspace=FolderWorkspace(folder),
        events=RecordingEvents(),
        approver=ScriptedApprover(),
        clock=FixedClock(0.0, 1.0),
        signals=ScriptedSignals(),
    )


@pytest.fixture
def agents_for() -> Iterator[object]:
    made: list[Ag2Agents] = []

    def make(server: OpenAITestServer, **route: object) -> Ag2Agents:
        options: dict[str, object] = {"max_retries": 0, **route}
        agents = Ag2Agents(Route(base_url=server.base_url, **options))  # type: ignore[arg-type]
        made.append(agents)
        return agents

    yield make
    for agents in made:
        agents.close()


def test_full_workflow_over_http_with_a_fix_and_a_report(tmp_path: Path, agents_for) -> None:
    replies = {
        "planner": [PRIMES, PRIMES],
        "plan_reviewer": [review("keep two steps")],
        "engineer": [Code(BROKEN), Code(FIXED)],
        "judge": [
            Verdict("fix", "NameError", "define prime_numbers before printing it"),
            Verdict("success", "20 primes saved"),
        ],
        "researcher": ["# Report\nThe largest of the first 20 primes is 71."],
    }
    with OpenAITestServer(replies) as server:
        agents = agents_for(server)
        fx = effects(agents, tmp_path)
        ctx = run_pipeline(PLANNING_AND_CONTROL, Context(task="primes"), fx).unwrap()
        log = list(server.log)
        assert server.unused == {}

    assert [(o.step, o.status, o.code_status, o.attempts) for o in ctx.outcomes] == [
        (1, "completed", "succeeded", 2),
        (2, "completed", "not_run", 1),
    ]
    assert (tmp_path / "primes.txt").read_text().split()[-1] == "71"
    assert (tmp_path / "codebase" / "step_1.py").read_text() == FIXED
    report = tmp_path / "reports" / "step_2_researcher_output.md"
    assert report.read_text() == "# Report\nThe largest of the first 20 primes is 71."
    assert "| 1 | engineer | completed | succeeded | 2 |" in (tmp_path / "report.md").read_text()

    # The ledger lists exactly the calls in the server's log, call for call.
    assert [(u.role, u.prompt_tokens, u.completion_tokens) for u in ctx.usage] == [
        (e.key, e.prompt_tokens, e.completion_tokens) for e in log
    ]
    assert all(e.status == 200 for e in log)
    # The judge's fix suggestion and the failed run's error reached the second engineer call.
    second_engineer = [e for e in log if e.key == "engineer"][1].body["messages"][-1]["content"]
    assert "define prime_numbers before printing it" in second_engineer
    assert "NameError: name 'prime_numbers' is not defined" in second_engineer
    # Structured replies were asked for with the schema, the native way by default.
    planner_body = log[0].body
    assert planner_body["response_format"]["type"] == "json_schema"
    assert planner_body["response_format"]["json_schema"]["name"] == "Plan"
    assert planner_body["messages"][0]["role"] == "system"
    # A researcher step asks for free text.
    assert "response_format" not in next(e for e in log if e.key == "researcher").body


def test_json_object_mode_sends_the_schema_beside_the_type(tmp_path: Path, agents_for) -> None:
    with OpenAITestServer({"planner": [PRIMES]}) as server:
        agents = agents_for(server, structured="json_object")
        draft_plan(Context(task="t"), effects(agents, tmp_path)).unwrap()
        fmt = server.log[0].body["response_format"]
    assert fmt["type"] == "json_object"
    assert "sub_tasks" in fmt["schema"]["$defs"]["Plan"]["properties"]


def test_prompt_mode_puts_the_schema_in_the_system_prompt(tmp_path: Path, agents_for) -> None:
    with OpenAITestServer({"planner": [PRIMES]}) as server:
        agents = agents_for(server, structured="prompt")
        draft_plan(Context(task="t"), effects(agents, tmp_path)).unwrap()
        body = server.log[0].body
    assert "response_format" not in body
    assert "matches this JSON Schema" in body["messages"][0]["content"]


def test_a_reply_violating_its_schema_is_reasked_with_the_problem(tmp_path, agents_for) -> None:
    bad = {"sub_tasks": [{"sub_task": "x", "sub_task_agent": 3}]}
    with OpenAITestServer({"planner": [bad, PRIMES]}) as server:
        agents = agents_for(server)
        ctx = draft_plan(Context(task="t"), effects(agents, tmp_path)).unwrap()
        second = server.log[1].body["messages"]
    assert ctx.plan == PRIMES
    assert [m["role"] for m in second] == ["system", "user", "assistant", "user"]
    assert second[2]["content"] == msgspec.json.encode(bad).decode()
    assert "$.sub_tasks[0].sub_task_agent" in second[3]["content"]


def test_an_empty_reply_ends_in_a_failure_naming_the_schema_problem(tmp_path, agents_for) -> None:
    with OpenAITestServer({"planner": ["", "", ""]}) as server:
        agents = agents_for(server)
        halt = draft_plan(Context(task="t"), effects(agents, tmp_path)).failure()
    assert halt.message.startswith("planner (planning) replied 3 time(s) without matching")
    assert "JSON" in halt.message


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (Status(500, message="boom"), "InternalServerError (HTTP 500)"),
        (Status(429, message="slow down"), "RateLimitError (HTTP 429)"),
        (Drop(), "APIConnectionError: Connection error."),
        (Slow(2.0, then="late"), "APITimeoutError: Request timed out."),
        (Malformed(), "JSONDecodeError"),
    ],
)
def test_faults_end_in_a_clear_model_failure(tmp_path, agents_for, fault, expected) -> None:
    with OpenAITestServer({"planner": [fault]}) as server:
        agents = agents_for(server, timeout=0.5)
        halt = draft_plan(Context(task="t"), effects(agents, tmp_path)).failure()
    assert halt.message.startswith("model call for planner (planning) failed: ")
    assert expected in halt.message
    assert halt.context.usage == ()


def test_a_429_with_retry_after_is_retried_and_succeeds(tmp_path, agents_for) -> None:
    with OpenAITestServer({"planner": [Status(429, retry_after=0.1), PRIMES]}) as server:
        agents = agents_for(server, max_retries=1)
        ctx = draft_plan(Context(task="t"), effects(agents, tmp_path)).unwrap()
        statuses = [e.status for e in server.log]
    assert ctx.plan == PRIMES
    assert statuses == [429, 200]
    assert len(ctx.usage) == 1  # one call in the ledger: the retry is the transport's


def test_costs_come_from_the_price_table_or_are_unknown(tmp_path, agents_for) -> None:
    with OpenAITestServer({"planner": [PRIMES]}) as server:
        agents = agents_for(server)
        unknown = draft_plan(Context(task="t"), effects(agents, tmp_path)).unwrap()
    assert unknown.usage[0].model == "gpt-4o-mini"
    assert unknown.usage[0].cost_usd == pytest.approx(
        (unknown.usage[0].prompt_tokens * 0.15 + unknown.usage[0].completion_tokens * 0.60) / 1e6
    )
    settings = Settings(default_model="my-llama")
    with OpenAITestServer({"planner": [PRIMES]}) as server:
        agents = agents_for(server)
        ctx = draft_plan(Context(task="t", settings=settings), effects(agents, tmp_path)).unwrap()
    assert ctx.usage[0].model == "my-llama"
    assert ctx.usage[0].cost_usd is None


def test_a_registered_role_with_tools_and_a_reply_schema(tmp_path: Path) -> None:
    from plancontrol import CONTROL, Plan, Role, Step
    from plancontrol.testing import ToolCall, ToolCalls

    counted: list[int] = []

    def count_primes(limit: int) -> int:
        """How many primes are below limit."""
        counted.append(limit)
        return sum(all(n % d for d in range(2, n)) for n in range(2, limit))

    schema = (
        '{"type": "object", "properties": {"count": {"type": "integer"}}, "required": ["count"]}'
    )
    counter = Role("counter", "counts things with its tools", reply_schema=schema)
    settings = Settings(roles=(*Settings().roles, counter))
    plan = Plan((Step("Count the primes below 20", "counter"),))
    replies = {"counter": [ToolCalls((ToolCall("count_primes", {"limit": 20}),)), {"count": 8}]}
    with OpenAITestServer(replies) as server:
        agents = Ag2Agents(
            Route(base_url=server.base_url, max_retries=0), tools={"counter": [count_primes]}
        )
        with agents:
            ctx = run_pipeline(
                CONTROL, Context(task="t", plan=plan, settings=settings), effects(agents, tmp_path)
            ).unwrap()
        log = list(server.log)
    assert counted == [20]
    assert [e.key for e in log] == ["counter", "counter"]
    tool_names = [t["function"]["name"] for t in log[0].body["tools"]]
    assert tool_names == ["count_primes"]
    assert log[1].body["messages"][-1] == {"role": "tool", "tool_call_id": "call_1", "content": "8"}
    assert log[0].body["response_format"]["json_schema"]["schema"]["required"] == ["count"]
    (row,) = ctx.usage  # one ask: its usage sums both model calls of the turn
    assert row.prompt_tokens == log[0].prompt_tokens + log[1].prompt_tokens
    assert row.completion_tokens == log[0].completion_tokens + log[1].completion_tokens
    saved = (tmp_path / "reports" / "step_1_counter.json").read_text()
    assert msgspec.json.decode(saved) == {"count": 8}
    assert ctx.outcomes[0].summary == saved
