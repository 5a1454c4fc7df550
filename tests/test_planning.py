"""The planning phases alone: draft, review, approve."""

from __future__ import annotations

import msgspec
import pytest
from returns.result import Success
from scripts import PRIMES, contents, engineer_plan, review

from plancontrol import (
    PLANNING,
    Context,
    InvalidPlan,
    InvalidReply,
    Plan,
    PlanRejected,
    Reject,
    Revise,
    RoundsExhausted,
    Settings,
    Step,
    run_pipeline,
)
from plancontrol.core.asking import ECHO_LIMIT
from plancontrol.core.phases.planning import approve_plan, draft_plan, review_plan
from plancontrol.testing import ScriptedAgents, ScriptedApprover, scripted_effects


def test_draft_plan_sets_the_plan_and_asks_within_the_roster() -> None:
    fx = scripted_effects({"planner": [PRIMES]})
    settings = Settings(hardware_constraints="2 CPUs, no GPU", plan_instructions="Be concise.")
    result = draft_plan(Context(task="primes", settings=settings), fx)
    ctx = result.unwrap()
    assert ctx.plan == PRIMES
    assert ctx.drafts == (PRIMES,)
    (request,) = fx.agents.requests
    assert request.role == "planner"
    assert request.schema_name == "Plan"
    assert request.schema is not None
    assert "sub_tasks" in str(request.schema)
    for needle in (
        "- engineer:",
        "- researcher:",
        "at most 3 step(s)",
        "2 CPUs, no GPU",
        "Be concise.",
    ):
        assert needle in request.system
    assert request.messages[0].content == "Task:\nprimes"


def test_malformed_plan_is_reasked_then_fails_naming_the_field() -> None:
    bad = {"sub_tasks": [{"sub_task": "x", "sub_task_agent": 7}]}
    fx = scripted_effects({"planner": ["not json at all", bad, bad]})
    halt = draft_plan(Context(task="t"), fx).failure()
    assert halt.error == InvalidReply(
        role="planner",
        step=0,
        path="$.sub_tasks[0].sub_task_agent",
        detail="Expected `str`, got `int`",
        asked=3,
    )
    assert "$.sub_tasks[0].sub_task_agent" in halt.message
    second = fx.agents.requests[1]
    assert second.messages[1].content == "not json at all"
    assert "JSON is malformed" in second.messages[2].content
    assert len(halt.context.usage) == 3


def test_a_long_off_schema_reply_is_shown_back_clipped_when_asked_again() -> None:
    # a reply cut off at the end of a small model's context window, echoed whole, overflowed
    # that window on the re-ask (HTTP 400 from llama.cpp's server)
    runaway = '{"sub_tasks": [' + " " * 12_000
    fx = scripted_effects({"planner": [runaway, PRIMES]})
    assert draft_plan(Context(task="t"), fx).unwrap().plan == PRIMES
    echoed = fx.agents.requests[1].messages[1]
    assert echoed.role == "assistant"
    assert echoed.content.startswith('{"sub_tasks": [')
    assert echoed.content.endswith("[…]")
    assert len(echoed.content) == ECHO_LIMIT


def test_malformed_plan_then_valid_plan_succeeds() -> None:
    fx = scripted_effects({"planner": ['{"sub_tasks": "no"}', PRIMES]})
    assert draft_plan(Context(task="t"), fx).unwrap().plan == PRIMES


def test_empty_plan_is_an_invalid_plan_error() -> None:
    fx = scripted_effects({"planner": [Plan(())]})
    halt = draft_plan(Context(task="t"), fx).failure()
    assert halt.error == InvalidPlan(
        where="$.sub_tasks",
        detail="the plan has no steps",
        fix="ask for at least one step (check the planner's instructions)",
    )
    assert halt.context.plan is None
    assert halt.context.drafts == (Plan(()),)


def test_plan_over_the_step_cap_is_an_error() -> None:
    fx = scripted_effects({"planner": [engineer_plan(4)]})
    halt = draft_plan(Context(task="t", settings=Settings(max_plan_steps=3)), fx).failure()
    assert isinstance(halt.error, InvalidPlan)
    assert halt.error.detail == "4 steps exceed max_plan_steps=3"
    assert halt.message.startswith("invalid plan at $.sub_tasks: 4 steps exceed")


def test_plan_naming_an_unknown_agent_is_an_error() -> None:
    plan = Plan((Step("a", "engineer"), Step("b", "painter")))
    halt = draft_plan(Context(task="t"), scripted_effects({"planner": [plan]})).failure()
    assert halt.message == (
        "invalid plan at $.sub_tasks[1].sub_task_agent: 'painter' is not in the roster; "
        "use one of: engineer, researcher, idea_maker, idea_hater"
    )


def test_review_runs_the_planner_n_plus_one_times_with_the_latest_recommendations() -> None:
    drafts = [engineer_plan(1), engineer_plan(2), engineer_plan(3)]
    fx = scripted_effects(
        {
            "planner": drafts,
            "plan_reviewer": [review("split step 1"), review("add a check")],
        }
    )
    ctx = Context(task="t", settings=Settings(n_plan_reviews=2))
    ctx = draft_plan(ctx, fx).bind(lambda c: review_plan(c, fx)).unwrap()
    assert ctx.plan == drafts[2]
    assert ctx.drafts == tuple(drafts)
    assert [r.recommendations for r in ctx.reviews] == [("split step 1",), ("add a check",)]
    planner = contents(fx.agents.requests_of("planner"))
    assert len(planner) == 3
    assert "Reviewer's recommendations" not in planner[0]
    assert "- split step 1" in planner[1]
    assert "add a check" not in planner[1]
    assert "- add a check" in planner[2]
    assert "split step 1" not in planner[2]
    assert "Step 2 (engineer): Task number 2" in planner[2]
    reviewer = contents(fx.agents.requests_of("plan_reviewer"))
    assert "Step 1 (engineer): Task number 1" in reviewer[0]
    assert "Step 2 (engineer): Task number 2" in reviewer[1]


def test_zero_reviews_keep_the_first_plan() -> None:
    fx = scripted_effects({"planner": [PRIMES]})
    ctx = Context(task="t", settings=Settings(n_plan_reviews=0))
    ctx = run_pipeline(PLANNING, ctx, fx).unwrap()
    assert ctx.plan == PRIMES
    assert ctx.reviews == ()
    assert [r.role for r in fx.agents.requests] == ["planner"]


def test_revised_plan_over_the_cap_is_an_error() -> None:
    fx = scripted_effects({"planner": [PRIMES, engineer_plan(5)], "plan_reviewer": [review("x")]})
    result = run_pipeline(PLANNING, Context(task="t"), fx)
    halt = result.failure()
    assert isinstance(halt.error, InvalidPlan)
    assert halt.context.plan == PRIMES  # the last valid plan is kept


def test_planning_is_cut_off_after_max_rounds() -> None:
    fx = scripted_effects({"planner": [PRIMES] * 3, "plan_reviewer": [review("x")] * 2})
    ctx = Context(task="t", settings=Settings(n_plan_reviews=2, max_rounds_planning=3))
    halt = run_pipeline(PLANNING, ctx, fx).failure()
    assert halt.error == RoundsExhausted(phase="planning", step=0, limit=3)
    assert len(fx.agents.requests) == 3


def test_approval_none_asks_nobody() -> None:
    approver = ScriptedApprover([Reject("no")])
    ctx = Context(task="t", plan=PRIMES)
    assert approve_plan(ctx, scripted_effects(approver=approver)) == Success(ctx)
    assert approver.requests == []


def test_rejected_plan_stops_the_workflow() -> None:
    approver = ScriptedApprover([Reject("too expensive")])
    fx = scripted_effects(
        {"planner": [PRIMES] * 2, "plan_reviewer": [review("x")]}, approver=approver
    )
    ctx = Context(task="t", settings=Settings(approval="after_planning"))
    halt = run_pipeline(PLANNING, ctx, fx).failure()
    assert halt.error == PlanRejected(reason="too expensive")
    assert halt.message == "plan rejected: too expensive"
    assert approver.requests[0].plan == PRIMES
    assert approver.requests[0].kind == "plan"


def test_revise_feeds_the_feedback_to_the_planner_then_approves() -> None:
    revised = engineer_plan(2)
    approver = ScriptedApprover([Revise("use numpy"), Revise("and plot it")])
    fx = scripted_effects(
        {"planner": [PRIMES, PRIMES, revised, revised], "plan_reviewer": [review("x")]},
        approver=approver,
    )
    ctx = Context(task="t", settings=Settings(approval="after_planning"))
    ctx = run_pipeline(PLANNING, ctx, fx).unwrap()
    assert ctx.plan == revised
    assert ctx.feedback == ("use numpy", "and plot it")
    planner = contents(fx.agents.requests_of("planner"))
    assert "Feedback from the person who approves the plan:\nuse numpy" in planner[2]
    assert "Feedback from the person who approves the plan:\nand plot it" in planner[3]
    assert [r.plan for r in approver.requests] == [PRIMES, revised, revised]


def test_endless_revisions_end_in_a_rejection() -> None:
    approver = ScriptedApprover(default=Revise("again"))
    fx = scripted_effects({"planner": [PRIMES] * 10}, approver=approver)
    settings = Settings(approval="after_planning", max_plan_revisions=2, n_plan_reviews=0)
    halt = run_pipeline(PLANNING, Context(task="t", settings=settings), fx).failure()
    assert halt.message == (
        "plan rejected: not approved after 2 revision(s); raise max_plan_revisions or approve"
    )
    assert len(fx.agents.requests_of("planner")) == 3


def test_planner_model_comes_from_the_role_override() -> None:
    settings = msgspec.convert(
        {"default_model": "base", "role_models": [{"role": "planner", "model": "big"}]}, Settings
    )
    agents = ScriptedAgents({"planner": [PRIMES]})
    draft_plan(Context(task="t", settings=settings), scripted_effects(agents=agents))
    assert agents.requests[0].model == "big"
    assert settings.model_for("engineer") == "base"


@pytest.mark.parametrize("step_count", [1, 3])
def test_plan_step_count_is_derived_from_its_steps(step_count: int) -> None:
    plan = engineer_plan(step_count)
    assert plan.n_steps == step_count
    assert b"n_steps" not in msgspec.json.encode(plan)


def test_planning_complete_announces_the_plan_that_was_finally_approved() -> None:
    from plancontrol.core.events import PlanningComplete
    from plancontrol.testing import RecordingEvents

    events = RecordingEvents()
    approver = ScriptedApprover([Revise("explain first")])
    fx = scripted_effects(
        {"planner": [engineer_plan(1), engineer_plan(2)]}, approver=approver, events=events
    )
    settings = Settings(approval="after_planning", n_plan_reviews=0)
    run_pipeline(PLANNING, Context(task="t", settings=settings), fx).unwrap()
    (announced,) = events.of(PlanningComplete)
    assert announced.n_steps == 2
    assert announced.steps == engineer_plan(2).steps
