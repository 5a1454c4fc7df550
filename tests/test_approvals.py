"""Human approval and cancellation through the pure phases: every mode and every decision."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from msgspec.structs import replace
from returns.result import Success
from scripts import OK, PRIMES, contents, engineer_plan, fix, review

from plancontrol import (
    CONTROL,
    PLANNING,
    PLANNING_AND_CONTROL,
    Abort,
    Aborted,
    ApprovalRequest,
    Approve,
    AttemptsExhausted,
    CallableApprover,
    Cancelled,
    Context,
    Decision,
    InvalidDecision,
    ModelFailure,
    Plan,
    PlanRejected,
    Reject,
    Retry,
    Revise,
    Settings,
    Skip,
    Step,
    load_settings,
    run_pipeline,
)
from plancontrol.core.answers import Code
from plancontrol.core.events import StepComplete, StepFailed, StepStart
from plancontrol.core.phases.control import first_step, run_steps, settled_steps
from plancontrol.core.phases.planning import approve_plan
from plancontrol.core.ports import Script, check_decision, decision_name, default_decision
from plancontrol.testing import (
    MemoryCheckpoints,
    RecordingEvents,
    ScriptedApprover,
    ScriptedExecutor,
    ScriptedSignals,
    scripted_effects,
)

TWO = engineer_plan(2)


def _on_error(**knobs: object) -> Settings:
    return msgspec.convert({"approval": "on_error", "max_n_attempts": 1, **knobs}, Settings)


# --- the plan -------------------------------------------------------------------------------


def test_an_approved_plan_is_asked_once_with_what_a_person_needs() -> None:
    approver = ScriptedApprover([Approve()])
    fx = scripted_effects(
        {"planner": [PRIMES] * 2, "plan_reviewer": [review("x")]}, approver=approver
    )
    ctx = run_pipeline(
        PLANNING, Context(task="primes", settings=Settings(approval="after_planning")), fx
    ).unwrap()
    assert ctx.plan == PRIMES
    assert approver.requests == [ApprovalRequest(kind="plan", task="primes", plan=PRIMES)]
    assert approver.requests[0].choices == ("approve", "reject", "revise", "abort")


def test_revising_the_plan_puts_the_feedback_in_the_planners_next_request() -> None:
    approver = ScriptedApprover([Revise("save the primes as CSV")])
    fx = scripted_effects({"planner": [PRIMES, TWO]}, approver=approver)
    settings = Settings(approval="after_planning", n_plan_reviews=0)
    ctx = run_pipeline(PLANNING, Context(task="t", settings=settings), fx).unwrap()
    first, second = contents(fx.agents.requests_of("planner"))
    assert "save the primes as CSV" not in first
    assert "Feedback from the person who approves the plan:\nsave the primes as CSV" in second
    assert ctx.plan == TWO
    assert [r.plan for r in approver.requests] == [PRIMES, TWO]


def test_aborting_the_plan_stops_with_a_resumable_error() -> None:
    approver = ScriptedApprover([Abort("not today")])
    fx = scripted_effects({"planner": [PRIMES]}, approver=approver)
    settings = Settings(approval="after_planning", n_plan_reviews=0)
    halt = run_pipeline(PLANNING, Context(task="t", settings=settings), fx).failure()
    assert halt.error == Aborted(kind="plan", step=0, reason="not today")
    assert halt.message == (
        "run aborted at the plan's approval: not today; resume to continue from there"
    )
    assert halt.context.plan == PRIMES


@pytest.mark.parametrize("decision", [Skip(), Retry()])
def test_skip_or_retry_on_a_plan_is_a_clear_error(decision: Decision) -> None:
    ctx = Context(task="t", plan=PRIMES, settings=Settings(approval="after_planning"))
    halt = approve_plan(ctx, scripted_effects(approver=ScriptedApprover([decision]))).failure()
    name = decision_name(decision)
    assert halt.error == InvalidDecision(
        kind="plan", step=0, decision=name, allowed=("approve", "reject", "revise", "abort")
    )
    assert halt.message == (
        f"the approver answered {name!r} on the plan, which it cannot take; answer one of: "
        "approve, reject, revise, abort"
    )
    assert halt.context == ctx


@pytest.mark.parametrize(
    ("mode", "asked"),
    [("none", []), ("after_planning", ["plan"]), ("before_each_step", ["plan", "step", "step"])],
)
def test_each_mode_asks_what_it_promises_on_a_run_without_failures(
    mode: str, asked: list[str]
) -> None:
    approver = ScriptedApprover()
    replies = {"planner": [TWO], "engineer": [Code("a"), Code("b")], "judge": [OK, OK]}
    fx = scripted_effects(replies, approver=approver)
    settings = msgspec.convert({"approval": mode, "n_plan_reviews": 0}, Settings)
    ctx = run_pipeline(PLANNING_AND_CONTROL, Context(task="t", settings=settings), fx).unwrap()
    assert [r.kind for r in approver.requests] == asked
    assert ctx.completed_steps == (1, 2)


def test_on_error_mode_asks_nothing_while_every_step_succeeds() -> None:
    approver = ScriptedApprover([Abort()])
    replies = {"planner": [TWO], "engineer": [Code("a"), Code("b")], "judge": [OK, OK]}
    fx = scripted_effects(replies, approver=approver)
    settings = Settings(approval="on_error", n_plan_reviews=0)
    ctx = run_pipeline(PLANNING_AND_CONTROL, Context(task="t", settings=settings), fx).unwrap()
    assert approver.requests == []
    assert ctx.completed_steps == (1, 2)


# --- before each step -----------------------------------------------------------------------


def test_step_approval_is_asked_before_each_step_with_its_number() -> None:
    approver = ScriptedApprover()
    fx = scripted_effects(
        {"engineer": [Code("a"), Code("b")], "judge": [OK, OK]}, approver=approver
    )
    ctx = Context(task="t", plan=TWO, settings=Settings(approval="before_each_step"))
    assert run_steps(ctx, fx).unwrap().completed_steps == (1, 2)
    assert approver.requests == [
        ApprovalRequest(kind="step", task="t", plan=TWO, step=1),
        ApprovalRequest(kind="step", task="t", plan=TWO, step=2),
    ]
    assert approver.requests[0].choices == ("approve", "reject", "revise", "skip", "abort")


def test_revising_a_text_step_puts_the_feedback_in_its_agents_request() -> None:
    plan = Plan((Step("Write up", "researcher"),))
    approver = ScriptedApprover([Revise("mention twin primes")])
    fx = scripted_effects({"researcher": ["# Report"]}, approver=approver)
    ctx = Context(task="t", plan=plan, settings=Settings(approval="before_each_step"))
    run_steps(ctx, fx).unwrap()
    assert contents(fx.agents.requests)[0].endswith("Feedback:\nmention twin primes")


def test_a_skipped_step_is_recorded_and_the_run_carries_on() -> None:
    approver = ScriptedApprover([Skip("not needed"), Approve()])
    executor = ScriptedExecutor()
    events = RecordingEvents()
    checkpoints = MemoryCheckpoints()
    fx = scripted_effects(
        {"engineer": [Code("b")], "judge": [OK]},
        approver=approver,
        executor=executor,
        events=events,
        checkpoints=checkpoints,
    )
    ctx = Context(task="t", plan=TWO, settings=Settings(approval="before_each_step"))
    done = run_steps(ctx, fx).unwrap()
    skipped, completed = done.outcomes
    assert skipped == msgspec.convert(
        {"step": 1, "agent": "engineer", "status": "skipped", "error": "not needed"},
        type(skipped),
    )
    assert completed.status == "completed"
    assert [s.step for s in executor.scripts] == [2]
    assert "### Step 1\n(skipped)" in contents(fx.agents.requests)[0]
    assert [(e.step, e.status) for e in events.of(StepComplete)] == [
        (1, "skipped"),
        (2, "completed"),
    ]
    assert [e.step for e in events.of(StepStart)] == [2]
    assert checkpoints.snapshots["step-01"].outcomes == (skipped,)
    assert done.completed_steps == (2,)
    assert settled_steps(done) == (1, 2)


def test_a_resume_goes_past_a_skipped_step() -> None:
    plan = engineer_plan(3)
    settings = Settings(approval="before_each_step")
    fx = scripted_effects(
        {"engineer": [Code("b")], "judge": [OK]},
        approver=ScriptedApprover([Skip()]),
        signals=ScriptedSignals(cancel_before=3),
    )
    stopped = run_steps(Context(task="t", plan=plan, settings=settings), fx).failure()
    assert stopped.error == Cancelled(step=3)
    assert first_step(stopped.context, plan) == Success(3)
    restarted = replace(stopped.context, settings=replace(settings, restart_at_step=3))
    assert first_step(restarted, plan) == Success(3)
    again = scripted_effects({"engineer": [Code("c")], "judge": [OK]})
    done = run_steps(replace(stopped.context, settings=Settings()), again).unwrap()
    assert [r.step for r in again.agents.requests] == [3, 3]
    assert settled_steps(done) == (1, 2, 3)


def test_aborting_a_step_stops_before_it_and_keeps_the_finished_ones() -> None:
    approver = ScriptedApprover([Approve(), Abort("out of time")])
    fx = scripted_effects({"engineer": [Code("a")], "judge": [OK]}, approver=approver)
    ctx = Context(task="t", plan=TWO, settings=Settings(approval="before_each_step"))
    halt = run_steps(ctx, fx).failure()
    assert halt.error == Aborted(kind="step", step=2, reason="out of time")
    assert halt.message == "run aborted before step 2: out of time; resume to continue from there"
    assert halt.context.completed_steps == (1,)
    assert [r.step for r in fx.agents.requests] == [1, 1]


def test_rejecting_a_step_stops_the_workflow() -> None:
    approver = ScriptedApprover([Reject("wrong approach")])
    fx = scripted_effects(approver=approver)
    ctx = Context(task="t", plan=TWO, settings=Settings(approval="before_each_step"))
    halt = run_steps(ctx, fx).failure()
    assert halt.error == PlanRejected(reason="step 1 rejected: wrong approach")
    assert fx.agents.requests == []


def test_retry_before_a_step_is_a_clear_error() -> None:
    fx = scripted_effects(approver=ScriptedApprover([Retry()]))
    ctx = Context(task="t", plan=TWO, settings=Settings(approval="before_each_step"))
    halt = run_steps(ctx, fx).failure()
    assert halt.message == (
        "the approver answered 'retry' on step 1, which it cannot take; answer one of: "
        "approve, reject, revise, skip, abort"
    )
    assert fx.agents.requests == []


def test_a_cancel_that_arrives_while_the_approver_decides_stops_before_the_step() -> None:
    signals = ScriptedSignals()

    def decide(request: ApprovalRequest) -> Decision:
        signals.cancel_before = request.step  # Ctrl-C pressed at the prompt
        return Approve()

    fx = scripted_effects(approver=CallableApprover(decide), signals=signals)
    ctx = Context(task="t", plan=TWO, settings=Settings(approval="before_each_step"))
    halt = run_steps(ctx, fx).failure()
    assert halt.error == Cancelled(step=1)
    assert signals.checked == [1, 1]
    assert fx.agents.requests == []


# --- on error -------------------------------------------------------------------------------


def test_retry_runs_the_failed_step_again_from_scratch() -> None:
    approver = ScriptedApprover([Retry()])
    events = RecordingEvents()
    checkpoints = MemoryCheckpoints()
    fx = scripted_effects(
        {"engineer": [Code("wrong"), Code("right")], "judge": [fix("use ints"), OK]},
        approver=approver,
        events=events,
        checkpoints=checkpoints,
    )
    ctx = run_steps(Context(task="t", plan=Plan(TWO.steps[:1]), settings=_on_error()), fx).unwrap()
    (request,) = approver.requests
    error = AttemptsExhausted(step=1, attempts=1, last_problem="the output is wrong").message
    assert request == ApprovalRequest(
        kind="error", task="t", plan=Plan(TWO.steps[:1]), step=1, error=error, retries_left=3
    )
    assert request.choices == ("retry", "revise", "skip", "reject", "abort")
    engineer = fx.agents.requests_of("engineer")
    assert [r.attempt for r in engineer] == [1, 1]
    assert "Your previous attempt" not in engineer[1].messages[0].content
    assert [o.status for o in ctx.outcomes] == ["failed", "completed"]
    assert ctx.completed_steps == (1,)
    assert len(ctx.usage) == 4
    steps = (StepStart, StepFailed, StepComplete)
    assert [type(e).__name__ for e in events.events if isinstance(e, steps)] == [
        "StepStart",
        "StepFailed",
        "StepStart",
        "StepComplete",
    ]
    assert checkpoints.snapshots["step-01"] == ctx


def test_revise_on_error_runs_the_step_again_with_the_feedback() -> None:
    approver = ScriptedApprover([Revise("print them one per line")])
    fx = scripted_effects(
        {"engineer": [Code("wrong"), Code("right")], "judge": [fix("x"), OK]}, approver=approver
    )
    run_steps(Context(task="t", plan=Plan(TWO.steps[:1]), settings=_on_error()), fx).unwrap()
    first, second = contents(fx.agents.requests_of("engineer"))
    assert "print them one per line" not in first
    assert "Your previous attempt:\nFeedback from the approver: print them one per line" in second


def test_revise_on_error_reaches_a_text_agent() -> None:
    plan = Plan((Step("Write up", "researcher"),))
    failure = ModelFailure(role="researcher", step=1, detail="HTTP 500")
    approver = ScriptedApprover([Revise("keep it short")])
    fx = scripted_effects({"researcher": [failure, "# Short"]}, approver=approver)
    ctx = run_steps(Context(task="t", plan=plan, settings=_on_error()), fx).unwrap()
    assert approver.requests[0].error == "model call for researcher (step 1) failed: HTTP 500"
    assert contents(fx.agents.requests)[1].endswith("Feedback:\nkeep it short")
    assert ctx.outcomes[-1].summary == "# Short"


def test_skip_on_error_records_the_step_as_skipped_and_goes_on() -> None:
    approver = ScriptedApprover([Skip("not essential")])
    executor = ScriptedExecutor()
    fx = scripted_effects(
        {"engineer": [Code("a"), Code("b")], "judge": [fix("x"), OK]},
        approver=approver,
        executor=executor,
    )
    ctx = run_steps(Context(task="t", plan=TWO, settings=_on_error()), fx).unwrap()
    failed, skipped, completed = ctx.outcomes
    assert (failed.step, failed.status) == (1, "failed")
    assert (skipped.step, skipped.status, skipped.attempts, skipped.code_status) == (
        1,
        "skipped",
        1,
        "succeeded",
    )
    assert skipped.files == ("codebase/step_1.py",)
    assert skipped.error == f"not essential; it had failed: {failed.error}"
    assert (completed.step, completed.status) == (2, "completed")
    assert "### Step 1\n(skipped)" in contents(fx.agents.requests_of("engineer"))[1]
    assert settled_steps(ctx) == (1, 2)


def test_reject_on_error_gives_up_with_the_steps_own_error() -> None:
    approver = ScriptedApprover([Reject("enough")])
    checkpoints = MemoryCheckpoints()
    fx = scripted_effects(
        {"engineer": [Code("a")], "judge": [fix("x")]}, approver=approver, checkpoints=checkpoints
    )
    halt = run_steps(Context(task="t", plan=TWO, settings=_on_error()), fx).failure()
    assert halt.error == AttemptsExhausted(step=1, attempts=1, last_problem="the output is wrong")
    assert checkpoints.snapshots["step-01"] == halt.context
    assert halt.context.outcomes[0].status == "failed"


def test_abort_on_error_stops_with_a_resumable_error() -> None:
    approver = ScriptedApprover([Abort("I will fix the data first")])
    fx = scripted_effects({"engineer": [Code("a")], "judge": [fix("x")]}, approver=approver)
    halt = run_steps(Context(task="t", plan=TWO, settings=_on_error()), fx).failure()
    assert halt.error == Aborted(kind="error", step=1, reason="I will fix the data first")
    assert halt.message == (
        "run aborted after step 1 failed: I will fix the data first; resume to continue from there"
    )
    resumed = run_steps(
        replace(halt.context, settings=Settings()),
        scripted_effects({"engineer": [Code("a"), Code("b")], "judge": [OK, OK]}),
    ).unwrap()
    assert resumed.completed_steps == (1, 2)


def test_approve_on_error_is_a_clear_error() -> None:
    fx = scripted_effects(
        {"engineer": [Code("a")], "judge": [fix("x")]}, approver=ScriptedApprover([Approve()])
    )
    halt = run_steps(Context(task="t", plan=TWO, settings=_on_error()), fx).failure()
    assert halt.message == (
        "the approver answered 'approve' on the failure of step 1, which it cannot take; "
        "answer one of: retry, revise, skip, reject, abort"
    )


def test_retries_stop_at_max_step_retries_with_a_clear_error() -> None:
    approver = ScriptedApprover(default=Retry())
    fx = scripted_effects({"engineer": [Code("a")] * 5, "judge": [fix("x")] * 5}, approver=approver)
    settings = _on_error(max_step_retries=2)
    halt = run_steps(Context(task="t", plan=TWO, settings=settings), fx).failure()
    assert [r.retries_left for r in approver.requests] == [2, 1, 0]
    assert approver.requests[-1].choices == ("skip", "reject", "abort")
    assert halt.error == InvalidDecision(
        kind="error",
        step=1,
        decision="retry",
        allowed=("skip", "reject", "abort"),
        why="no more runs of the step are allowed (max_step_retries)",
    )
    assert halt.message == (
        "the approver answered 'retry' on the failure of step 1, which it cannot take (no more "
        "runs of the step are allowed (max_step_retries)); answer one of: skip, reject, abort"
    )
    assert len(fx.agents.requests_of("engineer")) == 3


def test_a_cancel_during_the_error_decision_stops_instead_of_retrying() -> None:
    signals = ScriptedSignals()

    def decide(request: ApprovalRequest) -> Decision:
        signals.cancel_before = request.step
        return Retry()

    fx = scripted_effects(
        {"engineer": [Code("a")], "judge": [fix("x")]},
        approver=CallableApprover(decide),
        signals=signals,
    )
    halt = run_steps(Context(task="t", plan=TWO, settings=_on_error()), fx).failure()
    assert halt.error == Cancelled(step=1)
    assert len(fx.agents.requests_of("engineer")) == 1
    assert [o.status for o in halt.context.outcomes] == ["failed"]


def test_without_on_error_a_failed_step_stops_at_once() -> None:
    events = RecordingEvents()
    approver = ScriptedApprover([Retry()])
    fx = scripted_effects(
        {"engineer": [Code("a")], "judge": [fix("x")]}, approver=approver, events=events
    )
    settings = Settings(approval="before_each_step", max_n_attempts=1)
    halt = run_steps(Context(task="t", plan=TWO, settings=settings), fx).failure()
    assert isinstance(halt.error, InvalidDecision)  # the step's own approval got Retry
    fx = scripted_effects(
        {"engineer": [Code("a")], "judge": [fix("x")]}, approver=approver, events=events
    )
    halt = run_steps(Context(task="t", plan=TWO, settings=Settings(max_n_attempts=1)), fx).failure()
    assert isinstance(halt.error, AttemptsExhausted)
    assert len(events.of(StepFailed)) == 1


# --- cancellation and resume ----------------------------------------------------------------


def test_a_cancelled_run_keeps_its_finished_steps_and_resumes_from_the_next() -> None:
    plan = engineer_plan(3)
    replies = {
        "planner": [plan],
        "engineer": [Code("one")],
        "judge": [msgspec.structs.replace(OK, reason="step one made 2 3 5")],
    }
    signals = ScriptedSignals(cancel_before=2)
    fx = scripted_effects(replies, signals=signals)
    settings = Settings(n_plan_reviews=0)
    halt = run_pipeline(PLANNING_AND_CONTROL, Context(task="t", settings=settings), fx).failure()
    assert halt.error == Cancelled(step=2)
    assert halt.context.completed_steps == (1,)
    assert halt.context.plan == plan
    assert signals.checked == [0, 0, 0, 1, 2]  # plan, review, approve, step 1, step 2
    again = scripted_effects({"engineer": [Code("two"), Code("three")], "judge": [OK, OK]})
    done = run_pipeline(CONTROL, halt.context, again).unwrap()
    assert done.completed_steps == (1, 2, 3)
    assert done.outcomes[0] == halt.context.outcomes[0]
    assert [r.step for r in again.agents.requests] == [2, 2, 3, 3]
    assert "### Step 1\nstep one made 2 3 5" in contents(again.agents.requests)[0]


def test_cancelling_before_planning_asks_no_model() -> None:
    fx = scripted_effects({"planner": [PRIMES]}, signals=ScriptedSignals(cancel_before=0))
    halt = run_pipeline(PLANNING_AND_CONTROL, Context(task="t"), fx).failure()
    assert halt.error == Cancelled(step=0)
    assert fx.agents.requests == []


def test_cancelling_between_review_and_approval_keeps_the_reviewed_plan() -> None:
    class StopOnThirdCheck:
        def __init__(self) -> None:
            self.calls = 0

        def should_continue(self, step: int) -> bool:
            self.calls += 1
            return self.calls < 3

    approver = ScriptedApprover()
    fx = scripted_effects(
        {"planner": [PRIMES, TWO], "plan_reviewer": [review("two steps")]},
        signals=StopOnThirdCheck(),
        approver=approver,
    )
    settings = Settings(approval="after_planning")
    halt = run_pipeline(PLANNING_AND_CONTROL, Context(task="t", settings=settings), fx).failure()
    assert halt.error == Cancelled(step=0)
    assert halt.context.plan == TWO
    assert approver.requests == []


# --- settings, decisions and the journal ----------------------------------------------------


def test_approval_settings_have_safe_defaults() -> None:
    s = Settings()
    assert (s.approval, s.approval_timeout, s.approval_default, s.max_step_retries) == (
        "none",
        None,
        "abort",
        3,
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"approval": "after_planning", "approval_default": "skip"},
            "settings.approval_default 'skip' cannot answer a plan (approval='after_planning'); "
            "choose one of: approve, reject, abort",
        ),
        (
            {"approval": "before_each_step", "approval_default": "retry"},
            "settings.approval_default 'retry' cannot answer a plan and a step "
            "(approval='before_each_step'); choose one of: approve, reject, abort",
        ),
        (
            {"approval": "on_error", "approval_default": "approve"},
            "settings.approval_default 'approve' cannot answer an error (approval='on_error'); "
            "choose one of: reject, skip, retry, abort",
        ),
        (
            {"approval_timeout": 0},
            "settings.approval_timeout must be a positive number of seconds, got 0.0; or leave "
            "it unset to wait for ever",
        ),
        (
            {"max_step_retries": -1},
            "settings.max_step_retries must be at least 0, got -1; set it to 0 or more",
        ),
        (
            {"approval_default": "maybe"},
            "Invalid enum value 'maybe' - at `$.approval_default`; choose one of: approve, "
            "reject, skip, retry, abort",
        ),
    ],
)
def test_bad_approval_settings_are_one_clear_error(data: dict[str, object], message: str) -> None:
    assert load_settings(data).failure().detail == message


def test_a_default_that_fits_the_mode_is_accepted() -> None:
    settings = load_settings(
        {"approval": "on_error", "approval_default": "skip", "approval_timeout": 30}
    ).unwrap()
    assert (settings.approval_default, settings.approval_timeout) == ("skip", 30.0)


@pytest.mark.parametrize(
    ("name", "decision"),
    [
        ("approve", Approve()),
        ("reject", Reject("no answer")),
        ("skip", Skip("no answer")),
        ("retry", Retry()),
        ("abort", Abort("no answer")),
    ],
)
def test_each_default_names_its_decision(name: str, decision: Decision) -> None:
    assert default_decision(name, "no answer") == decision
    assert decision_name(decision) == name


def test_check_decision_passes_a_decision_that_applies() -> None:
    request = ApprovalRequest(kind="step", task="t", plan=TWO, step=2)
    assert check_decision(request, Skip()) == Success(Skip())


def test_callable_approver_answers_through_the_pipeline() -> None:
    seen: list[str] = []

    def decide(request: ApprovalRequest) -> Decision:
        seen.append(f"{request.kind} {request.step}")
        return Approve() if request.kind == "plan" else Skip()

    fx = scripted_effects({"planner": [TWO]}, approver=CallableApprover(decide))
    settings = Settings(approval="before_each_step", n_plan_reviews=0)
    ctx = run_pipeline(PLANNING_AND_CONTROL, Context(task="t", settings=settings), fx).unwrap()
    assert seen == ["plan 0", "step 1", "step 2"]
    assert [o.status for o in ctx.outcomes] == ["skipped", "skipped"]


def test_every_decision_is_journaled_with_its_request_and_served_back(tmp_path: Path) -> None:
    from plancontrol.runs.journal import (
        Decided,
        Journal,
        JournalReplay,
        RecordingApprover,
        read_journal,
    )

    asked = [
        (ApprovalRequest(kind="plan", task="t", plan=TWO), Revise("more")),
        (ApprovalRequest(kind="plan", task="t", plan=TWO), Approve()),
        (ApprovalRequest(kind="step", task="t", plan=TWO, step=1), Approve()),
        (ApprovalRequest(kind="error", task="t", plan=TWO, step=1, error="boom"), Retry()),
        (ApprovalRequest(kind="error", task="t", plan=TWO, step=1, error="boom"), Skip("later")),
        (ApprovalRequest(kind="step", task="t", plan=TWO, step=2), Reject("no")),
        (ApprovalRequest(kind="error", task="t", plan=TWO, step=2, error="bust"), Abort("stop")),
    ]
    journal = Journal(tmp_path / "journal.jsonl")
    recording = RecordingApprover(ScriptedApprover([d for _, d in asked]), journal)
    recorded = [recording.decide(request) for request, _ in asked]
    journal.close()
    entries = read_journal(tmp_path / "journal.jsonl").unwrap()

    assert recorded == [d for _, d in asked]
    assert [e for e in entries if isinstance(e, Decided)] == [
        Decided(request.kind, request.step, decision) for request, decision in asked
    ]
    replay = JournalReplay(entries)
    assert [replay.decide(request) for request, _ in asked] == recorded
    assert replay.unplayed == {}


def test_a_decision_journaled_for_step_1_is_not_served_to_step_2(tmp_path: Path) -> None:
    from plancontrol.core.errors import ReplayDiverged
    from plancontrol.runs.journal import Journal, JournalReplay, RecordingApprover, read_journal

    journal = Journal(tmp_path / "journal.jsonl")
    recording = RecordingApprover(ScriptedApprover([Skip("not now")]), journal)
    recording.decide(ApprovalRequest(kind="step", task="t", plan=TWO, step=1))
    journal.close()
    replay = JournalReplay(read_journal(tmp_path / "journal.jsonl").unwrap())

    decision = replay.decide(ApprovalRequest(kind="step", task="t", plan=TWO, step=2))

    assert replay.diverged == ReplayDiverged(
        entry="#1, a decision on the step at step 1", request="a decision on the step at step 2"
    )
    assert decision == Abort(reason=replay.diverged.message)  # the run stops; nothing served
    assert replay.unplayed == {"Decided": 1}


def test_a_replay_that_leaves_its_journal_stops_with_a_failure_naming_entry_and_request() -> None:
    from plancontrol.core.errors import ReplayDiverged
    from plancontrol.runs.journal import Checked, Decided, JournalReplay, Ran, Ticked

    entries = (
        Ticked(1.0),
        Checked(1, True),
        Ran(1, 1, "step_1.py", None, "gone"),
        Decided("error", 1, Skip()),
    )
    replay = JournalReplay(entries)
    assert replay.should_continue(1) is True
    script = Script(step=1, attempt=2, filename="step_1_attempt_2.py", code="print(1)")

    failed = replay.run(script)

    expected = ReplayDiverged(
        entry="#3, the result of step_1.py (step 1, attempt 1)",
        request="the result of step_1_attempt_2.py (step 1, attempt 2)",
    )
    assert replay.diverged == expected
    assert failed.failure().detail == expected.message
    assert replay.should_continue(2) is False  # every later request stops the run too
    assert replay.now() == 0.0  # the clock stands still; no reading was served
