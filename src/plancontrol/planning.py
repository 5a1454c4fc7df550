"""Planning phases: draft a plan, review and revise it, put it before the approver."""

from __future__ import annotations

from msgspec.structs import replace
from returns.result import Failure, Success

from plancontrol.calls import ask_typed
from plancontrol.context import Context
from plancontrol.effects import ApprovalRequest, Approve, Effects, Reject, Revise
from plancontrol.errors import PlanRejected, RoundsExhausted
from plancontrol.events import PlanningComplete, PlanningStart, deliver
from plancontrol.phase import PhaseResult, halt
from plancontrol.plan import Plan, Review, check_plan, plan_text
from plancontrol.prompts import planner_request, reviewer_request

__all__ = ["approve_plan", "draft_plan", "review_plan"]


def _planning_calls(ctx: Context) -> int:
    return sum(1 for row in ctx.usage if row.phase == "planning")


def _rounds_left(ctx: Context) -> PhaseResult:
    limit = ctx.settings.max_rounds_planning
    if _planning_calls(ctx) >= limit:
        return halt(ctx, RoundsExhausted(phase="planning", step=0, limit=limit))
    return Success(ctx)


def _plan_once(ctx: Context, fx: Effects) -> PhaseResult:
    """One planner call: the new draft becomes ``ctx.plan`` once it passes ``check_plan``."""
    if isinstance(stop := _rounds_left(ctx), Failure):
        return stop
    match ask_typed(ctx, fx, planner_request(ctx, len(ctx.drafts) + 1), Plan):
        case Failure(h):
            return Failure(h)
        case Success((ctx, plan)):
            pass
    ctx = replace(ctx, drafts=(*ctx.drafts, plan))
    match check_plan(plan, ctx.settings):
        case Failure(invalid):
            return halt(ctx, invalid)
        case _:
            return Success(replace(ctx, plan=plan))


def draft_plan(ctx: Context, fx: Effects) -> PhaseResult:
    """Ask the planner for a first plan of at most max_plan_steps roster-only steps."""
    deliver(
        fx.events,
        PlanningStart(
            task=ctx.task,
            max_plan_steps=ctx.settings.max_plan_steps,
            planner_model=ctx.settings.model_for("planner"),
        ),
    )
    return _plan_once(ctx, fx)


def review_plan(ctx: Context, fx: Effects) -> PhaseResult:
    """n_plan_reviews rounds of review then revision; each revision sees the latest review."""
    for round_ in range(1, ctx.settings.n_plan_reviews + 1):
        assert ctx.plan is not None, "review_plan needs a plan: put draft_plan before it"
        if isinstance(stop := _rounds_left(ctx), Failure):
            return stop
        match ask_typed(ctx, fx, reviewer_request(ctx, ctx.plan, round_), Review):
            case Failure(h):
                return Failure(h)
            case Success((ctx, review)):
                ctx = replace(ctx, reviews=(*ctx.reviews, review))
        match _plan_once(ctx, fx):
            case Failure(h):
                return Failure(h)
            case Success(ctx):
                pass
    return Success(ctx)


def _planned(ctx: Context, fx: Effects) -> PhaseResult:
    """Announce the final plan, timed from the start of the ``plan`` phase."""
    assert ctx.plan is not None
    started = next((t.started for t in ctx.timings if t.phase == "plan"), None)
    now = fx.clock.now()
    deliver(
        fx.events,
        PlanningComplete(
            task=ctx.task,
            n_steps=ctx.plan.n_steps,
            steps=ctx.plan.steps,
            plan_text=plan_text(ctx.plan),
            seconds=now - (started if started is not None else now),
        ),
    )
    return Success(ctx)


def approve_plan(ctx: Context, fx: Effects) -> PhaseResult:
    """When approval is asked for, let the approver approve, reject, or have the plan revised
    with feedback (at most max_plan_revisions times); then announce the final plan."""
    if ctx.settings.approval == "none":
        return _planned(ctx, fx)
    for revision in range(ctx.settings.max_plan_revisions + 1):
        assert ctx.plan is not None, "approve_plan needs a plan: put draft_plan before it"
        match fx.approver.decide(ApprovalRequest(kind="plan", task=ctx.task, plan=ctx.plan)):
            case Approve():
                return _planned(ctx, fx)
            case Reject(reason):
                return halt(ctx, PlanRejected(reason=reason))
            case Revise(feedback) if revision < ctx.settings.max_plan_revisions:
                match _plan_once(replace(ctx, feedback=(*ctx.feedback, feedback)), fx):
                    case Failure(h):
                        return Failure(h)
                    case Success(ctx):
                        pass
    reason = f"not approved after {ctx.settings.max_plan_revisions} revision(s)"
    return halt(ctx, PlanRejected(reason=reason + "; raise max_plan_revisions or approve"))
