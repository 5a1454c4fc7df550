"""The shipped doubles behave as documented, so users can trust them in their own tests."""

from __future__ import annotations

import pytest

from plancontrol import Execution, ExecutionFailure, Message, ModelFailure, Reply, Request, Script
from plancontrol.core.answers import Verdict
from plancontrol.testing import (
    FixedClock,
    FunctionAgents,
    MemoryWorkspace,
    ScriptedAgents,
    ScriptedExecutor,
    ScriptedSignals,
    scripted_effects,
)


def request(role: str, text: str = "hello there") -> Request:
    return Request(
        role=role,
        model="m",
        phase="control",
        step=2,
        attempt=1,
        system="Be brief",
        messages=(Message("user", text),),
    )


def test_scripted_agents_answer_each_role_in_order_and_count_words_as_tokens() -> None:
    agents = ScriptedAgents({"judge": [Verdict("success", "ok"), "plain"]}, price_per_token=0.5)
    first = agents.ask(request("judge")).unwrap()
    assert first.text == '{"decision":"success","reason":"ok","fix_suggestion":"","packages":[]}'
    assert (first.prompt_tokens, first.completion_tokens, first.cost_usd) == (4, 1, 2.5)
    assert agents.ask(request("judge")).unwrap().text == "plain"
    assert agents.unused == {}
    assert [r.role for r in agents.requests] == ["judge", "judge"]


def test_scripted_agents_pass_full_replies_and_failures_through() -> None:
    failure = ModelFailure(role="planner", step=0, detail="HTTP 429")
    reply = Reply(text="x", model="gpt", prompt_tokens=7, completion_tokens=3, cost_usd=None)
    agents = ScriptedAgents({"planner": [reply, failure]})
    assert agents.ask(request("planner")).unwrap() == reply
    assert agents.ask(request("planner")).failure() == failure


def test_scripted_agents_fail_clearly_for_an_unscripted_role() -> None:
    agents = ScriptedAgents({})
    assert agents.ask(request("researcher")).failure() == ModelFailure(
        role="researcher", step=2, detail="the script for researcher has no reply left (0 used)"
    )


def test_function_agents_route_by_role() -> None:
    agents = FunctionAgents({"judge": lambda r: r.messages[0].content.upper()})
    assert agents.ask(request("judge", "abc")).unwrap().text == "ABC"
    assert agents.ask(request("planner")).failure().detail == "no function answers for planner"


def test_scripted_executor_serves_results_then_fails_when_exhausted() -> None:
    executor = ScriptedExecutor([Execution(exit_code=1), ExecutionFailure(step=1, detail="gone")])
    script = Script(step=1, attempt=1, filename="codebase/step_1.py", code="print(1)")
    assert executor.run(script).unwrap().exit_code == 1
    assert executor.run(script).failure().detail == "gone"
    assert executor.run(script).failure().detail == "the scripted executor has no result left"
    assert executor.scripts == [script] * 3


def test_scripted_executor_without_a_script_always_succeeds() -> None:
    executor = ScriptedExecutor()
    script = Script(step=3, attempt=2, filename="codebase/step_3.py", code="")
    assert executor.run(script).unwrap() == Execution(exit_code=0, stdout="ran codebase/step_3.py")
    assert executor.install(3, ("numpy",)).unwrap().exit_code == 0
    assert executor.installs == [(3, ("numpy",))]


def test_memory_workspace_keeps_files() -> None:
    ws = MemoryWorkspace({"a.txt": "A"})
    assert ws.write("b/c.md", "C") == "b/c.md"
    assert (ws.read("a.txt"), ws.read("b/c.md"), ws.read("none")) == ("A", "C", None)


def test_fixed_clock_ticks_only_when_asked() -> None:
    clock = FixedClock(10.0, 0.5)
    assert [clock.now(), clock.now(), clock.now()] == [10.0, 10.5, 11.0]
    assert FixedClock(3.0).now() == FixedClock(3.0).now() == 3.0


def test_scripted_signals_cancel_from_a_step_on() -> None:
    signals = ScriptedSignals(cancel_before=3)
    assert [signals.should_continue(n) for n in (1, 2, 3, 4)] == [True, True, False, False]


def test_scripted_effects_refuses_an_unknown_handler_name() -> None:
    with pytest.raises(TypeError, match="unknown handler\\(s\\): agent"):
        scripted_effects(agent=ScriptedAgents({}))
