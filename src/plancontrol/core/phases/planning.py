"""Planning phases: draft a plan, review and revise it, put it before the approver."""

from __future__ import annotations

from msgspec.structs import replace
from returns.result import Failure, Success

from plancontrol.core.asking import ask_typed
from plancontrol.core.context import Context
from plancontrol.core.errors import Aborted, PlanRejected, RoundsExhausted
from plancontrol.core.phase import PhaseResult, halt
from plancontrol.core.plan import Plan, Review, check_proposed
from plancontrol.core.ports import (
    Abort,
    ApprovalRequest,
    Approve,
    Reject,
    Revise,
    World,
    check_decision,
)
from plancontrol.core.prompts import planner_request, reviewer_request
from plancontrol.core.settings import ASKED_IN_MODE

__all__ = ["approve_plan", "draft_plan", "review_plan"]


def _planning_calls(ctx: Context) -> int:
    return sum(1 for row in ctx.usage if row.phase == "planning")


def _rounds_left(ctx: Context) -> PhaseResult:
    limit = ctx.settings.max_rounds_planning
    if _planning_calls(ctx) >= limit:
        return halt(ctx, RoundsExhausted(phase="planning", step=0, limit=limit))
    return Success(ctx)


def _plan_once(ctx: Context, fx: World) -> PhaseResult:
    """One planner call: the new draft becomes ``ctx.plan`` once it passes ``check_proposed``."""
    if isinstance(stop := _rounds_left(ctx), Failure):
        return stop
    match ask_typed(ctx, fx, planner_request(ctx, len(ctx.drafts) + 1), Plan):
        case Failure(h):
            return Failure(h)
        case Success((ctx, plan)):
            pass
    ctx = replace(ctx, drafts=(*ctx.drafts, plan))
    match check_proposed(plan, ctx.settings):
        case Failure(invalid):
            return halt(ctx, invalid)
        case _:
            return Success(replace(ctx, plan=plan))


def draft_plan(ctx: Context, fx: World) -> PhaseResult:
    """Ask the planner for a first plan of at most max_plan_steps roster-only steps."""
    return _plan_once(ctx, fx)


def review_plan(ctx: Context, fx: World) -> PhaseResult:
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


def approve_plan(ctx: Context, fx: World) -> PhaseResult:
    """When the approval mode asks for it, let the approver approve, reject, abort, or have the
    plan revised with feedback (at most max_plan_revisions times); then announce the final
    plan. Skip and retry do not apply to a plan: they stop the run with ``InvalidDecision``."""
    if "plan" not in ASKED_IN_MODE[ctx.settings.approval]:
        return Success(ctx)
    for revision in range(ctx.settings.max_plan_revisions + 1):
        assert ctx.plan is not None, "approve_plan needs a plan: put draft_plan before it"
        request = ApprovalRequest(kind="plan", task=ctx.task, plan=ctx.plan)
        match check_decision(request, fx.approver.decide(request)):
            case Failure(invalid):
                return halt(ctx, invalid)
            case Success(Approve()):
                return Success(ctx)
            case Success(Reject(reason)):
                return halt(ctx, PlanRejected(reason=reason))
            case Success(Abort(reason)):
                return halt(ctx, Aborted(kind="plan", step=0, reason=reason))
            case Success(Revise(feedback)) if revision < ctx.settings.max_plan_revisions:
                match _plan_once(replace(ctx, feedback=(*ctx.feedback, feedback)), fx):
                    case Failure(h):
                        return Failure(h)
                    case Success(ctx):
                        pass
    reason = f"not approved after {ctx.settings.max_plan_revisions} revision(s)"
    return halt(ctx, PlanRejected(reason=reason + "; raise max_plan_revisions or approve"))
