"""Events: the callback adapters, shielded delivery, and the events a run emits."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from returns.result import Failure, Success

from plancontrol.core.answers import Code, Verdict
from plancontrol.core.context import Context
from plancontrol.core.errors import AttemptsExhausted, Cancelled
from plancontrol.core.events import (
    CostUpdate,
    Event,
    PhaseChange,
    PlanningComplete,
    StepComplete,
    StepFailed,
    StepStart,
    WorkflowComplete,
    WorkflowFailed,
    WorkflowStart,
)
from plancontrol.core.pipeline import PLANNING_AND_CONTROL, run_pipeline
from plancontrol.core.plan import Plan, Review, Step, plan_text
from plancontrol.core.settings import Settings
from plancontrol.handlers.callbacks import CallbackEvents, CallbackSignals, FanOut, deliver
from plancontrol.testing import RecordingEvents, ScriptedAgents, scripted_effects

PLAN = Plan(
    (
        Step("Fit a line to the data", "engineer", ("use numpy.polyfit",)),
        Step("Explain the fit", "researcher"),
        Step("Plot the residuals", "engineer"),
    )
)
TASK = "Fit a line and explain it"


def _replies(plan: Plan = PLAN) -> dict[str, list[Any]]:
    return {
        "planner": [plan, plan],
        "plan_reviewer": [Review(("keep three steps",))],
        "engineer": [Code("print('fit')"), Code("print('plot')")],
        "judge": [Verdict("success", "fitted"), Verdict("success", "plotted")],
        "researcher": ["# The fit\nslope 2"],
    }


def _run(**handlers: Any) -> Any:
    return run_pipeline(
        PLANNING_AND_CONTROL, Context(task=TASK), scripted_effects(_replies(), **handlers)
    )


class _Calls:
    """A callback object recording what it is called with; lacks most on_* methods."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Event]] = []

    def on_step_start(self, event: Event) -> None:
        self.calls.append(("on_step_start", event))

    def on_workflow_complete(self, event: Event) -> None:
        self.calls.append(("on_workflow_complete", event))


def test_callback_adapter_calls_on_methods_by_event_name() -> None:
    callbacks = _Calls()
    adapter = CallbackEvents(callbacks)
    start = WorkflowStart(task="t", phases=("plan",))
    change = PhaseChange(phase="plan", previous=None)
    step = StepStart(step=1, n_steps=1, goal="Fit", agent="engineer", started=0.0)
    done = WorkflowComplete(task="t", n_steps=1, completed_steps=(1,), seconds=0.0, cost_usd=None)

    for event in (start, change, step, done):
        adapter.emit(event)

    assert callbacks.calls == [("on_step_start", step), ("on_workflow_complete", done)]
    assert adapter.failures == []


def test_callback_adapter_ignores_attributes_that_are_not_named_for_events() -> None:
    class Other:
        def on_nothing(self, event: Event) -> None:
            raise AssertionError("never called")

    adapter = CallbackEvents(Other())
    adapter.emit(PhaseChange(phase="plan", previous=None))

    assert adapter.failures == []


class _RaisingStepStart:
    def __init__(self) -> None:
        self.completed: list[int] = []

    def on_step_start(self, event: StepStart) -> None:
        raise RuntimeError(f"display broke at step {event.step}")

    def on_step_complete(self, event: StepComplete) -> None:
        self.completed.append(event.step)


def test_raising_callback_is_recorded_and_the_run_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    callbacks = _RaisingStepStart()
    adapter = CallbackEvents(callbacks)

    with caplog.at_level(logging.WARNING, logger="plancontrol"):
        result = _run(events=adapter)

    assert isinstance(result, Success)
    assert result.unwrap().completed_steps == (1, 2, 3)
    assert callbacks.completed == [1, 2, 3]
    assert adapter.failures == [
        ("on_step_start", f"RuntimeError: display broke at step {n}") for n in (1, 2, 3)
    ]
    warnings = [r for r in caplog.records if r.name == "plancontrol"]
    assert [(r.levelno, r.getMessage()) for r in warnings] == [
        (
            logging.WARNING,
            f"callback on_step_start raised RuntimeError: display broke at step {n}; "
            "the run goes on",
        )
        for n in (1, 2, 3)
    ]


class _BrokenSink:
    def __init__(self) -> None:
        self.seen = 0

    def emit(self, event: Event) -> None:
        self.seen += 1
        raise ValueError("sink is down")

    def __repr__(self) -> str:
        return "<broken sink>"


def test_raising_sink_never_breaks_the_run(caplog: pytest.LogCaptureFixture) -> None:
    sink = _BrokenSink()
    reference = RecordingEvents()
    run_pipeline(
        PLANNING_AND_CONTROL, Context(task=TASK), scripted_effects(_replies(), events=reference)
    )

    with caplog.at_level(logging.ERROR, logger="plancontrol"):
        result = _run(events=FanOut(sink))  # the wiring shields every sink a caller brings

    assert isinstance(result, Success)
    assert result.unwrap().completed_steps == (1, 2, 3)
    assert sink.seen == len(reference.events)
    records = [r for r in caplog.records if r.name == "plancontrol"]
    assert [r.getMessage() for r in records] == [
        f"event sink <broken sink> raised on {name}; the run goes on" for name in reference.names()
    ]
    assert all(r.levelno == logging.ERROR for r in records)
    assert all(r.exc_info is not None and r.exc_info[0] is ValueError for r in records)


def test_deliver_shields_the_caller_from_a_raising_sink(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="plancontrol"):
        deliver(_BrokenSink(), PhaseChange(phase="plan", previous=None))

    assert [r.getMessage() for r in caplog.records] == [
        "event sink <broken sink> raised on phase_change; the run goes on"
    ]


def test_fan_out_delivers_to_every_sink_even_after_one_raises(
    caplog: pytest.LogCaptureFixture,
) -> None:
    first, last = RecordingEvents(), RecordingEvents()
    broken = _BrokenSink()
    fan_out = FanOut(first, broken, last)
    events = [
        PhaseChange(phase="plan", previous=None),
        PhaseChange(phase="review", previous="plan"),
    ]

    with caplog.at_level(logging.ERROR, logger="plancontrol"):
        for event in events:
            fan_out.emit(event)

    assert first.events == events
    assert last.events == events
    assert broken.seen == 2
    assert len(caplog.records) == 2


def test_fan_out_feeds_every_sink_of_a_whole_run() -> None:
    recorder = RecordingEvents()
    callbacks = _RaisingStepStart()

    result = _run(events=FanOut(_BrokenSink(), CallbackEvents(callbacks), recorder))

    assert isinstance(result, Success)
    assert callbacks.completed == [1, 2, 3]
    assert recorder.names()[-1] == "workflow_complete"


class _Hooks:
    """should_continue / pause_check hooks that log their calls next to step starts."""

    def __init__(self, stop_at_call: int | None = None, raising: str | None = None) -> None:
        self.log: list[str] = []
        self.stop_at_call = stop_at_call
        self.raising = raising

    def pause_check(self) -> None:
        self.log.append("pause_check")
        if self.raising == "pause_check":
            raise RuntimeError("pause hook broke")

    def should_continue(self) -> bool:
        self.log.append("should_continue")
        if self.raising == "should_continue":
            raise RuntimeError("continue hook broke")
        return self.log.count("should_continue") != self.stop_at_call

    def on_step_start(self, event: StepStart) -> None:
        self.log.append(f"step_start {event.step}")


def test_callback_signals_cancel_when_should_continue_returns_false() -> None:
    hooks = _Hooks(stop_at_call=5)  # before plan, review, approve, step 1, step 2
    agents = ScriptedAgents(_replies())

    result = _run(signals=CallbackSignals(hooks), events=CallbackEvents(hooks), agents=agents)

    assert isinstance(result, Failure)
    halt = result.failure()
    assert halt.error == Cancelled(step=2)
    assert (
        halt.message
        == "cancelled before step 2: cancelled by request; resume to continue from there"
    )
    assert halt.context.completed_steps == (1,)
    assert [r.step for r in agents.requests if r.phase == "control"] == [1, 1]
    assert hooks.log == [
        *["pause_check", "should_continue"] * 3,  # before plan, review and approve
        "pause_check",
        "should_continue",
        "step_start 1",
        "pause_check",
        "should_continue",
    ]


def test_callback_signals_cancel_between_planning_phases() -> None:
    hooks = _Hooks(stop_at_call=2)
    agents = ScriptedAgents(_replies())

    halt = _run(signals=CallbackSignals(hooks), agents=agents).failure()

    assert halt.error == Cancelled(step=0)
    assert halt.message == (
        "cancelled during planning: cancelled by request; resume to continue from there"
    )
    assert [r.role for r in agents.requests] == ["planner"]
    assert halt.context.plan == PLAN


@pytest.mark.parametrize("broken", ["pause_check", "should_continue"])
def test_callback_signals_ignore_a_raising_hook(
    broken: str, caplog: pytest.LogCaptureFixture
) -> None:
    hooks = _Hooks(raising=broken)

    with caplog.at_level(logging.WARNING, logger="plancontrol"):
        result = _run(signals=CallbackSignals(hooks))

    assert isinstance(result, Success)
    assert result.unwrap().completed_steps == (1, 2, 3)
    problem = "pause hook broke" if broken == "pause_check" else "continue hook broke"
    assert [r.getMessage() for r in caplog.records if r.name == "plancontrol"] == [
        f"callback {broken} raised RuntimeError: {problem}; continuing"
    ] * 7  # before each unit: plan, review, approve, the 3 steps, finalize


def test_callback_signals_continue_when_the_object_has_no_hooks() -> None:
    signals = CallbackSignals(object())

    assert signals.should_continue(1) is True


def test_pause_check_is_called_before_each_unit_of_the_schedule() -> None:
    hooks = _Hooks()

    result = _run(signals=CallbackSignals(hooks), events=CallbackEvents(hooks))

    assert isinstance(result, Success)
    check = ["pause_check", "should_continue"]
    steps = [entry for n in (1, 2, 3) for entry in (*check, f"step_start {n}")]
    assert hooks.log == check * 3 + steps + check  # plan, review, approve; steps; finalize


def test_events_cover_the_seed_callbacks() -> None:
    recorder = RecordingEvents()
    agents = ScriptedAgents(_replies(), price_per_token=0.001)

    result = _run(events=recorder, agents=agents)

    assert isinstance(result, Success)
    names = recorder.names()
    assert names[0] == "workflow_start"
    assert names[-1] == "workflow_complete"
    for expected in (
        "phase_change",
        "planning_start",
        "planning_complete",
        "step_start",
        "step_complete",
        "cost_update",
    ):
        assert expected in names, expected
    assert [e.phase for e in recorder.of(PhaseChange)] == [p.name for p in PLANNING_AND_CONTROL]
    assert recorder.of(WorkflowStart) == [
        WorkflowStart(task=TASK, phases=tuple(p.name for p in PLANNING_AND_CONTROL))
    ]

    (planned,) = recorder.of(PlanningComplete)
    assert planned.n_steps == PLAN.n_steps == 3
    assert planned.steps == PLAN.steps
    assert planned.plan_text == plan_text(PLAN)
    assert names.index("planning_start") < names.index("planning_complete")
    assert names.index("planning_complete") < names.index("step_start")

    starts = recorder.of(StepStart)
    assert [(e.step, e.n_steps, e.goal, e.agent) for e in starts] == [
        (n, 3, step.sub_task, step.agent) for n, step in enumerate(PLAN.steps, start=1)
    ]
    completes = recorder.of(StepComplete)
    assert [(e.step, e.goal, e.status) for e in completes] == [
        (n, step.sub_task, "completed") for n, step in enumerate(PLAN.steps, start=1)
    ]
    assert completes[1].summary == "# The fit\nslope 2"
    step_events = [n for n in names if n in ("step_start", "step_complete")]
    assert step_events == ["step_start", "step_complete"] * 3

    costs = recorder.of(CostUpdate)
    usage = result.unwrap().usage
    assert len(costs) == len(usage) == 8
    assert [(c.role, c.step, c.cost_usd) for c in costs] == [
        (u.role, u.step, u.cost_usd) for u in usage
    ]
    assert costs[-1].total_cost_usd == pytest.approx(sum(c.cost_usd or 0.0 for c in costs))

    (complete,) = recorder.of(WorkflowComplete)
    assert complete.n_steps == 3
    assert complete.completed_steps == (1, 2, 3)
    assert complete.cost_usd == pytest.approx(costs[-1].total_cost_usd)


def test_exhausted_engineer_attempts_end_with_step_failed_then_workflow_failed() -> None:
    replies = _replies()
    replies["engineer"] = [Code("print('fit')"), Code("print('fit again')")]
    replies["judge"] = [Verdict("fix", "no slope printed", "print the slope")] * 2
    recorder = RecordingEvents()
    ctx = Context(task=TASK, settings=Settings(max_n_attempts=2))

    result = run_pipeline(PLANNING_AND_CONTROL, ctx, scripted_effects(replies, events=recorder))

    assert isinstance(result, Failure)
    assert result.failure().error == AttemptsExhausted(
        step=1, attempts=2, last_problem="no slope printed"
    )
    assert recorder.names()[-2:] == ["step_failed", "workflow_failed"]
    assert "step_complete" not in recorder.names()
    (failed,) = recorder.of(StepFailed)
    assert (failed.step, failed.goal, failed.status) == (1, PLAN.steps[0].sub_task, "failed")
    assert failed.error == result.failure().message
    assert recorder.of(WorkflowFailed) == [
        WorkflowFailed(task=TASK, phase="control", error=result.failure().message)
    ]
