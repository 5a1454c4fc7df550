"""Whole pipelines with the doubles: the main workflow and its siblings."""

from __future__ import annotations

import pytest
from msgspec.structs import replace
from returns.result import Success
from scripts import PRIMES, engineer_plan, fix, happy_replies

from plancontrol import (
    CONTROL,
    PLANNING,
    PLANNING_AND_CONTROL,
    AttemptsExhausted,
    Context,
    Effects,
    InvalidPlan,
    Phase,
    PhaseResult,
    Plan,
    Settings,
    Step,
    halt,
    insert_after,
    one_shot,
    run_pipeline,
    summarize,
)
from plancontrol.core.answers import Code
from plancontrol.testing import FixedClock, ScriptedAgents, ScriptedExecutor, scripted_effects


def test_planning_and_control_runs_every_phase_and_step() -> None:
    agents = ScriptedAgents(happy_replies(), price_per_token=0.0001)
    fx = scripted_effects(agents=agents, clock=FixedClock(0.0, 1.0))
    ctx = run_pipeline(PLANNING_AND_CONTROL, Context(task="primes"), fx).unwrap()
    assert ctx.plan == PRIMES
    assert [(o.step, o.agent, o.status) for o in ctx.outcomes] == [
        (1, "engineer", "completed"),
        (2, "researcher", "completed"),
    ]
    assert [(u.role, u.phase, u.step) for u in ctx.usage] == [
        ("planner", "planning", 0),
        ("plan_reviewer", "planning", 0),
        ("planner", "planning", 0),
        ("engineer", "control", 1),
        ("judge", "control", 1),
        ("researcher", "control", 2),
    ]
    assert [(t.phase, t.step) for t in ctx.timings] == [
        ("plan", 0),
        ("review", 0),
        ("approve", 0),
        ("control", 1),
        ("control", 2),
        ("control", 0),
        ("finalize", 0),
    ]
    assert agents.unused == {"idea_maker": 1, "idea_hater": 1}
    text = fx.workspace.files["report.md"]
    summary = summarize(ctx)
    assert summary.total.calls == 6
    assert summary.total.cost_usd == sum(u.cost_usd or 0 for u in ctx.usage)
    assert [t.key for t in summary.by_role] == [
        "planner",
        "plan_reviewer",
        "engineer",
        "judge",
        "researcher",
    ]
    assert f"| total | 6 | {summary.total.prompt_tokens} |" in text
    assert "| 2 | researcher | completed | not_run | 1 | # Report 0 |" in text


def test_failure_keeps_the_context_with_usage_outcomes_and_timings() -> None:
    replies = happy_replies()
    replies["judge"] = [fix("a"), fix("b"), fix("c")]
    replies["engineer"] = [Code("x")] * 3
    fx = scripted_effects(replies, clock=FixedClock(0.0, 1.0))
    halt_ = run_pipeline(PLANNING_AND_CONTROL, Context(task="t"), fx).failure()
    assert isinstance(halt_.error, AttemptsExhausted)
    assert halt_.context.plan == PRIMES
    assert len(halt_.context.usage) == 3 + 6
    assert halt_.context.timings[-1].phase == "control"
    assert "report.md" not in fx.workspace.files
    assert fx.events.names()[-2:] == ["step_failed", "workflow_failed"]


def test_planning_only_stops_with_the_plan() -> None:
    fx = scripted_effects(happy_replies())
    ctx = run_pipeline(PLANNING, Context(task="t"), fx).unwrap()
    assert ctx.plan == PRIMES
    assert ctx.outcomes == ()
    assert {r.role for r in fx.agents.requests} == {"planner", "plan_reviewer"}


def test_control_runs_an_existing_plan_without_planning() -> None:
    fx = scripted_effects(happy_replies())
    ctx = run_pipeline(CONTROL, Context(task="t", plan=PRIMES), fx).unwrap()
    assert ctx.completed_steps == (1, 2)
    assert "planner" not in {r.role for r in fx.agents.requests}


def test_control_rechecks_a_loaded_plan() -> None:
    bad = Plan((Step("a", "wizard"),))
    halt_ = run_pipeline(CONTROL, Context(task="t", plan=bad), scripted_effects()).failure()
    assert isinstance(halt_.error, InvalidPlan)


def test_one_shot_is_a_one_step_plan_for_one_agent() -> None:
    fx = scripted_effects({"researcher": ["# The answer"]})
    ctx = run_pipeline(one_shot("researcher"), Context(task="Explain primes"), fx).unwrap()
    assert ctx.plan == Plan((Step("Explain primes", "researcher"),))
    assert ctx.outcomes[0].summary == "# The answer"


def test_a_users_phase_between_review_and_control() -> None:
    def require_a_report(ctx: Context, fx: Effects) -> PhaseResult:
        assert ctx.plan is not None
        if not any(s.agent == "researcher" for s in ctx.plan.steps):
            return halt(
                ctx,
                InvalidPlan(
                    where="$.sub_tasks", detail="no report step", fix="add a researcher step"
                ),
            )
        return Success(ctx)

    check = Phase("require_report", require_a_report)
    pipeline = insert_after(PLANNING_AND_CONTROL, "review", check)
    assert [p.name for p in pipeline] == [
        "plan",
        "review",
        "require_report",
        "approve",
        "control",
        "finalize",
    ]
    fx = scripted_effects(happy_replies(engineer_plan(1)))
    halt_ = run_pipeline(pipeline, Context(task="t"), fx).failure()
    assert halt_.message == "invalid plan at $.sub_tasks: no report step; add a researcher step"
    fx = scripted_effects(happy_replies())
    assert run_pipeline(pipeline, Context(task="t"), fx).unwrap().completed_steps == (1, 2)


def test_prompt_size_stays_flat_over_30_steps() -> None:
    plan = Plan(tuple(Step(f"Step task {i}", "researcher") for i in range(1, 31)))
    long_report = "# Findings\n" + "lorem ipsum dolor " * 200
    settings = Settings(max_plan_steps=30, summary_budget=2000)
    fx = scripted_effects({"researcher": [long_report] * 30})
    ctx = run_pipeline(CONTROL, Context(task="t", plan=plan, settings=settings), fx).unwrap()
    assert ctx.completed_steps == tuple(range(1, 31))
    sizes = [len(r.messages[0].content) for r in fx.agents.requests]
    assert sizes[0] < sizes[1]
    assert max(sizes) - min(sizes[2:]) < 2000 + 200
    assert max(sizes[2:]) == min(sizes[2:]) or max(sizes[2:]) - min(sizes[2:]) < 10


def test_run_is_deterministic_with_the_doubles() -> None:
    def once() -> bytes:
        from plancontrol import encode_context

        fx = scripted_effects(happy_replies(), clock=FixedClock(5.0, 0.25))
        return encode_context(run_pipeline(PLANNING_AND_CONTROL, Context(task="t"), fx).unwrap())

    assert once() == once()


def test_each_run_restarts_where_its_own_context_says() -> None:
    done = run_pipeline(CONTROL, Context(task="t", plan=PRIMES), scripted_effects(happy_replies()))
    finished = done.unwrap()
    asked: dict[int, tuple[list[int], list[str]]] = {}
    for k in (1, 2, 0):
        executor = ScriptedExecutor()
        fx = scripted_effects(happy_replies(), executor=executor)
        restarted = replace(finished, settings=replace(finished.settings, restart_at_step=k))
        ctx = run_pipeline(CONTROL, restarted, fx).unwrap()
        assert ctx.completed_steps == (1, 2)
        asked[k] = ([s.step for s in executor.scripts], [r.role for r in fx.agents.requests])
    # the same finished context, three settings: step 1 again, step 2 only, nothing left to do
    assert asked == {
        1: ([1], ["engineer", "judge", "researcher"]),
        2: ([], ["researcher"]),
        0: ([], []),
    }


def test_executor_is_only_used_by_engineer_steps() -> None:
    executor = ScriptedExecutor()
    fx = scripted_effects(happy_replies(), executor=executor)
    run_pipeline(PLANNING_AND_CONTROL, Context(task="t"), fx).unwrap()
    assert [(s.step, s.attempt, s.filename, s.code) for s in executor.scripts] == [
        (1, 1, "codebase/step_1.py", "print(0)")
    ]


def test_report_totals_per_role_phase_and_step_are_sums_of_the_rows() -> None:
    from plancontrol.core.report import render_report

    agents = ScriptedAgents(happy_replies(), price_per_token=0.001)
    ctx = run_pipeline(PLANNING_AND_CONTROL, Context(task="t"), scripted_effects(agents=agents))
    summary = summarize(ctx.unwrap())
    for groups in (summary.by_role, summary.by_phase, summary.by_step):
        assert sum(g.calls for g in groups) == summary.total.calls == 6
        assert sum(g.prompt_tokens for g in groups) == summary.total.prompt_tokens
        assert sum(g.cost_usd or 0 for g in groups) == pytest.approx(summary.total.cost_usd)
    assert [(g.key, g.calls) for g in summary.by_phase] == [("planning", 3), ("control", 3)]
    text = render_report(summary)
    assert "## Cost by phase" in text
    assert "| control | 3 |" in text


def test_a_snapshot_is_taken_after_each_phase_and_each_step() -> None:
    from plancontrol.testing import MemoryCheckpoints

    checkpoints = MemoryCheckpoints()
    fx = scripted_effects(happy_replies(), checkpoints=checkpoints)
    final = run_pipeline(PLANNING_AND_CONTROL, Context(task="t"), fx).unwrap()
    assert list(checkpoints.snapshots) == [
        "plan",
        "review",
        "approve",
        "step-01",
        "step-02",
        "control",
        "finalize",
    ]
    assert checkpoints.snapshots["step-01"].completed_steps == (1,)
    assert checkpoints.snapshots["review"].plan == PRIMES
    assert checkpoints.snapshots["finalize"] == final
