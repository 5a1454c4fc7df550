"""The runner: one loop gates, runs, times, checkpoints and tells each unit of the schedule."""

from __future__ import annotations

import inspect

import msgspec
from returns.result import Success

from plancontrol.core.answers import Code, Verdict
from plancontrol.core.context import Context, TimingRow
from plancontrol.core.errors import Cancelled
from plancontrol.core.events import AgentReplied, CodeExecuted, CostUpdate, StepStart
from plancontrol.core.phase import Phase
from plancontrol.core.phases import control, finalize, planning, steps
from plancontrol.core.pipeline import CONTROL, PLANNING_AND_CONTROL, phases_after
from plancontrol.core.plan import Plan, Review, Step
from plancontrol.core.ports import Execution
from plancontrol.core.runner import pending_steps, run_pipeline, step_label
from plancontrol.core.settings import Settings
from plancontrol.testing import (
    FixedClock,
    MemoryCheckpoints,
    RecordingEvents,
    ScriptedAgents,
    ScriptedExecutor,
    ScriptedSignals,
    scripted_effects,
)

PLAN = Plan((Step("Compute", "engineer"), Step("Explain", "researcher")))
OK = Verdict("success", "it printed the answer")


def _replies() -> dict[str, list[object]]:
    return {
        "planner": [PLAN, PLAN],
        "plan_reviewer": [Review(("fine",))],
        "engineer": [Code("print(42)")],
        "judge": [OK],
        "researcher": ["# Report\n42."],
    }


def test_every_unit_is_timed_and_checkpointed_under_its_label() -> None:
    checkpoints = MemoryCheckpoints()
    clock = FixedClock(start=100.0, tick=1.0)
    fx = scripted_effects(_replies(), clock=clock, checkpoints=checkpoints)

    done = run_pipeline(PLANNING_AND_CONTROL, Context(task="t"), fx).unwrap()

    assert [(t.phase, t.step) for t in done.timings] == [
        ("plan", 0),
        ("review", 0),
        ("approve", 0),
        ("control", 1),
        ("control", 2),
        ("control", 0),
        ("finalize", 0),
    ]
    assert all(t.ended > t.started for t in done.timings)  # each read from the clock
    step_1 = done.timings[3]
    assert checkpoints.snapshots["step-01"].timings[-1] == step_1


def test_the_runner_checks_before_each_unit_and_a_cancel_keeps_what_was_done() -> None:
    signals = ScriptedSignals(cancel_before=2)
    checkpoints = MemoryCheckpoints()
    fx = scripted_effects(_replies(), signals=signals, checkpoints=checkpoints)

    halt = run_pipeline(PLANNING_AND_CONTROL, Context(task="t"), fx).failure()

    assert halt.error == Cancelled(step=2)
    assert signals.checked == [0, 0, 0, 1, 2]
    assert halt.context.completed_steps == (1,)
    assert "step-02" not in checkpoints.snapshots
    again = scripted_effects({"researcher": ["# Report"]})
    resumed = run_pipeline(phases_after(PLANNING_AND_CONTROL, "step-01"), halt.context, again)
    assert resumed.unwrap().completed_steps == (1, 2)


def test_per_call_events_come_from_the_runner_not_the_phases() -> None:
    events = RecordingEvents()
    agents = ScriptedAgents(_replies(), price_per_token=0.001)
    executor = ScriptedExecutor([Execution(exit_code=0, stdout="42\n")])
    fx = scripted_effects(agents=agents, executor=executor, events=events)

    run_pipeline(PLANNING_AND_CONTROL, Context(task="t"), fx).unwrap()

    replied = events.of(AgentReplied)
    assert [e.role for e in replied] == [r.role for r in agents.requests]
    costs = events.of(CostUpdate)
    assert len(costs) == len(agents.requests)
    spent = [c.cost_usd or 0.0 for c in costs]
    assert [c.total_cost_usd for c in costs] == [sum(spent[: k + 1]) for k in range(len(spent))]
    (ran,) = events.of(CodeExecuted)
    assert (ran.step, ran.attempt, ran.exit_code) == (1, 1, 0)
    assert [e.step for e in events.of(StepStart)] == [1, 2]


def test_phases_read_no_clock_emit_no_event_and_catch_nothing() -> None:
    for module in (control, finalize, planning, steps):
        source = inspect.getsource(module)
        for banned in ("clock", "signals", "checkpoints", ".emit(", "events", "try:", "logging"):
            assert banned not in source, f"{module.__name__} uses {banned!r}"


def test_the_schedule_has_one_unit_per_pending_step() -> None:
    done = msgspec.structs.replace(
        Context(task="t", plan=PLAN), outcomes=()
    )  # nothing done yet: both steps pending
    assert pending_steps(done) == (1, 2)
    assert step_label(2) == "step-02"
    assert [p.name for p in phases_after(CONTROL, "step-01")] == ["control", "finalize"]
    own = (Phase("mine", lambda ctx, world: Success(ctx)), *CONTROL)
    assert [p.name for p in phases_after(own, "step-02")] == ["control", "finalize"]
    assert [p.name for p in phases_after(own, "mine")] == ["control", "finalize"]


def test_a_failed_steps_snapshot_is_saved_once_its_fate_is_settled() -> None:
    checkpoints = MemoryCheckpoints()
    fail = Verdict("fix", "wrong", "try again")
    fx = scripted_effects({"engineer": [Code("a")], "judge": [fail]}, checkpoints=checkpoints)
    settings = Settings(max_n_attempts=1)

    halt = run_pipeline(CONTROL, Context(task="t", plan=PLAN, settings=settings), fx).failure()

    assert list(checkpoints.snapshots) == ["step-01"]
    assert checkpoints.snapshots["step-01"].outcomes[-1].status == "failed"
    assert halt.context.timings[-2:] == (
        TimingRow(phase="control", step=1, started=0.0, ended=0.0),
        TimingRow(phase="control", step=0, started=0.0, ended=0.0),
    )
