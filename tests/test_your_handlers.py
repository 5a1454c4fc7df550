"""Your handlers, recorded (issue #14 item 2): an executor, tools, an approver and an event
sink of the caller's own go through the journal; replay serves what they gave, unasked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from returns.result import Failure, Result, Success
from scripts import OK, PRIMES, happy_replies

import plancontrol
from plancontrol import Plan, Step
from plancontrol.core.answers import Code
from plancontrol.core.errors import ExecutionFailure, ReplayDiverged
from plancontrol.core.events import Event, StepComplete, StepStart, WorkflowComplete
from plancontrol.core.ports import (
    ApprovalRequest,
    Approve,
    CallableApprover,
    Decision,
    Execution,
    Script,
    Skip,
)
from plancontrol.handlers.local import ApproveAll, DiscardEvents, Uninterrupted
from plancontrol.recording.wiring import Handlers
from plancontrol.runs.entries import Decided, Entry, Ran, Tooled
from plancontrol.runs.journal import JournalReplay, read_journal
from plancontrol.runs.tools import RecordedToolFailure, ServedTools
from plancontrol.testing import OpenAITestServer, ToolCall, ToolCalls


class FixedExecutor:
    """Runs no code: every script "prints" ``stdout``; each script asked is kept."""

    def __init__(self, stdout: str) -> None:
        self.stdout = stdout
        self.scripts: list[Script] = []

    def run(self, script: Script) -> Result[Execution, ExecutionFailure]:
        self.scripts.append(script)
        return Success(Execution(exit_code=0, stdout=self.stdout))

    def install(self, step: int, packages: tuple[str, ...]) -> Result[Execution, ExecutionFailure]:
        return Failure(ExecutionFailure(step=step, detail="no installs here"))


def _handlers(**given: object) -> Handlers:
    parts: dict[str, object] = {
        "events": DiscardEvents(),
        "approver": ApproveAll(),
        "signals": Uninterrupted(),
        **given,
    }
    return Handlers(**parts)  # type: ignore[arg-type]


def _journal(run: Path, session: int = 1) -> tuple[Entry, ...]:
    return read_journal(run / "sessions" / f"{session:02d}" / "journal.jsonl").unwrap()


def _ran(entries: tuple[Entry, ...]) -> list[tuple[int, str]]:
    return [(e.step, e.result.stdout) for e in entries if isinstance(e, Ran) and e.result]


@pytest.mark.slow
def test_an_executor_of_your_own_is_journaled_and_replay_never_calls_it(tmp_path: Path) -> None:
    replies = happy_replies(PRIMES)
    replies["engineer"] = [Code("print('ignored')")] * 3
    replies["judge"] = [OK] * 3
    replies["researcher"] = ["# Report\nAll fine."] * 3
    first, again, branch = FixedExecutor("41\n"), FixedExecutor("42\n"), FixedExecutor("43\n")
    run, fork = tmp_path / "run", tmp_path / "fork"
    with OpenAITestServer(replies) as server:
        ran = plancontrol.run(
            "Compute primes",
            run,
            model="test-model",
            base_url=server.base_url,
            handlers=_handlers(executor=first),
            env={},
        )
        assert ran.unwrap().completed_steps == (1, 2)
        resumed = plancontrol.resume(run, from_step=1, handlers=_handlers(executor=again), env={})
        assert resumed.unwrap().completed_steps == (1, 2)
        forked = plancontrol.fork(
            run, fork, from_step=1, handlers=_handlers(executor=branch), env={}
        )
        assert forked.unwrap().completed_steps == (1, 2)
    # each executor ran step 1's one script, and its session's journal holds what it printed
    assert [(s.step, s.attempt) for s in first.scripts] == [(1, 1)]
    assert [(s.step, s.attempt) for s in again.scripts] == [(1, 1)]
    assert [(s.step, s.attempt) for s in branch.scripts] == [(1, 1)]
    assert _ran(_journal(run, 1)) == [(1, "41\n")]
    assert _ran(_journal(run, 2)) == [(1, "42\n")]
    assert _ran(_journal(fork, 1)) == [(1, "41\n")]  # the original's, copied
    assert _ran(_journal(fork, 2)) == [(1, "43\n")]
    for folder in (run, fork):
        replayed = plancontrol.replay(folder).unwrap()
        assert replayed.identical
        assert replayed.unplayed_journal == {}
    # served from the journals: not one more call to any of them
    assert (len(first.scripts), len(again.scripts), len(branch.scripts)) == (1, 1, 1)


class Counted:
    """A tool (with type hints: ag2 reads its schema from them) that counts its calls."""

    def __init__(self) -> None:
        self.calls: list[int] = []

        def count_primes(limit: int) -> int:
            """How many primes are below limit."""
            self.calls.append(limit)
            return sum(all(n % d for d in range(2, n)) for n in range(2, limit))

        self.tool = count_primes


COUNTER = {"name": "counter", "description": "counts things exactly, with its tools"}
COUNT_PLAN = Plan((Step("Count the primes below 20", "counter"),))


def _tool_replies() -> dict[str, list[Any]]:
    call = ToolCalls((ToolCall("count_primes", {"limit": 20}),))
    planned = happy_replies(COUNT_PLAN)
    return {
        "planner": planned["planner"],
        "plan_reviewer": planned["plan_reviewer"],
        "counter": [call, "There are 8 primes below 20.", call, "Still 8."],
    }


@pytest.mark.slow
def test_a_roles_tools_are_journaled_and_replay_serves_them_uncalled(tmp_path: Path) -> None:
    counted, later = Counted(), Counted()
    run = tmp_path / "run"
    with OpenAITestServer(_tool_replies()) as server:
        ran = plancontrol.run(
            "Count primes",
            run,
            model="test-model",
            base_url=server.base_url,
            settings={"roles": [COUNTER]},
            tools={"counter": [counted.tool]},
            env={},
        )
        assert ran.unwrap().completed_steps == (1,)
        resumed = plancontrol.resume(run, from_step=1, tools={"counter": [later.tool]}, env={})
        assert resumed.unwrap().completed_steps == (1,)
        sent = [e.body for e in server.log if e.key == "counter"]
    assert counted.calls == [20]  # the live run called it, once
    assert later.calls == [20]  # the resume got its own tools, and called them
    assert sent[0]["tools"][0]["function"]["name"] == "count_primes"
    assert sent[1]["messages"][-1]["content"] == "8"  # the tool's result went to the model
    assert [e for e in _journal(run, 1) if isinstance(e, Tooled)] == [
        Tooled("counter", 1, "count_primes", {"limit": 20}, 8)
    ]
    assert [e for e in _journal(run, 2) if isinstance(e, Tooled)] == [
        Tooled("counter", 1, "count_primes", {"limit": 20}, 8)
    ]
    replayed = plancontrol.replay(run, tools={"counter": [counted.tool]}).unwrap()
    assert replayed.identical
    assert replayed.unplayed_journal == {}
    assert counted.calls == [20]  # served from the journal: not called again
    untooled = plancontrol.replay(run).failure()  # as `plancontrol replay` has it: no tools
    journal = run / "sessions" / "01" / "journal.jsonl"
    assert untooled.message == (
        f"{journal} records calls of the tools of counter, which this replay was not given; "
        "replay it from Python with the same tools: plancontrol.replay(run_dir, tools={...})"
    )
    part = plancontrol.replay(run, part="step-01", tools={"counter": [later.tool]}).unwrap()
    assert part.identical
    assert later.calls == [20]


def test_a_tool_call_the_journal_does_not_hold_next_is_a_divergence() -> None:
    journal = JournalReplay((Tooled("counter", 1, "count_primes", {"limit": 20}, 8),))
    counted = Counted()
    served = ServedTools(journal)("counter", 1, counted.tool)
    assert served.__name__ == "count_primes"  # what ag2 names the tool by
    assert served(limit=20) == 8
    with pytest.raises(RecordedToolFailure) as raised:
        served(limit=30)
    assert journal.diverged == ReplayDiverged(
        entry="none left", request="the counter's call count_primes(limit=30) at step 1"
    )
    assert str(raised.value) == journal.diverged.message
    assert counted.calls == []  # never called


def test_calls_of_one_turn_are_served_in_any_order_and_others_diverge() -> None:
    entries = (
        Tooled("counter", 1, "count_primes", {"limit": 10}, 4),
        Tooled("counter", 1, "count_primes", {"limit": 20}, 8),
        Tooled("counter", 2, "count_primes", {"limit": 30}, 10),
    )
    journal = JournalReplay(entries)
    served = ServedTools(journal)("counter", 1, Counted().tool)
    assert (served(limit=20), served(limit=10)) == (8, 4)  # ag2 runs one turn's calls at once
    with pytest.raises(RecordedToolFailure):
        served(limit=30)  # held, but for step 2
    assert journal.diverged == ReplayDiverged(
        entry="#3, the counter's call count_primes(limit=30) at step 2",
        request="the counter's call count_primes(limit=30) at step 1",
    )


class Watching:
    """An event sink that keeps every event, and an approver that keeps every request."""

    def __init__(self, decisions: dict[tuple[str, int], Decision]) -> None:
        self.events: list[Event] = []
        self.asked: list[tuple[str, int]] = []
        self.decisions = decisions

    def emit(self, event: Event) -> None:
        self.events.append(event)

    def decide(self, request: ApprovalRequest) -> Decision:
        self.asked.append((request.kind, request.step))
        return self.decisions.get((request.kind, request.step), Approve())


@pytest.mark.slow
def test_your_event_sink_hears_the_run_and_your_approvers_decisions_replay(
    tmp_path: Path,
) -> None:
    watching = Watching({("step", 2): Skip("not today")})
    run = tmp_path / "run"
    with OpenAITestServer(happy_replies(PRIMES)) as server:
        ran = plancontrol.run(
            "Compute primes",
            run,
            model="test-model",
            base_url=server.base_url,
            settings={"approval": "before_each_step"},
            handlers=_handlers(events=watching, approver=CallableApprover(watching.decide)),
            env={},
        )
    assert ran.unwrap().completed_steps == (1,)
    assert [o.status for o in ran.unwrap().outcomes] == ["completed", "skipped"]
    assert watching.asked == [("plan", 0), ("step", 1), ("step", 2)]
    assert [e.step for e in watching.events if isinstance(e, StepStart)] == [1]
    assert [(e.step, e.status) for e in watching.events if isinstance(e, StepComplete)] == [
        (1, "completed"),
        (2, "skipped"),
    ]
    finished = [e for e in watching.events if isinstance(e, WorkflowComplete)]
    assert [e.completed_steps for e in finished] == [(1,)]
    assert [(e.kind, e.step, e.decision) for e in _journal(run) if isinstance(e, Decided)] == [
        ("plan", 0, Approve()),
        ("step", 1, Approve()),
        ("step", 2, Skip("not today")),
    ]
    heard = Watching({})
    replayed = plancontrol.replay(run, events=heard).unwrap()
    assert replayed.identical
    assert replayed.context.outcomes == ran.unwrap().outcomes
    assert len(watching.asked) == 3  # the decisions were served: the approver was not asked
    assert [type(e).__name__ for e in heard.events] == [type(e).__name__ for e in watching.events]
