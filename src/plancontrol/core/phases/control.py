"""The control phase: check the plan, then carry out each step, carrying context along."""

from __future__ import annotations

from msgspec.structs import replace
from returns.result import Failure, Result, Success

from plancontrol.core.context import Context, StepOutcome
from plancontrol.core.errors import (
    Aborted,
    Error,
    InvalidPlan,
    PlanRejected,
)
from plancontrol.core.phase import Again, Go, Halt, Phase, PhaseResult, StepResult, halt
from plancontrol.core.phases.steps import STEP_RUNNERS, StepEnd
from plancontrol.core.plan import Plan, check_plan
from plancontrol.core.ports import (
    Abort,
    ApprovalRequest,
    Approve,
    Effects,
    Reject,
    Retry,
    Revise,
    Skip,
    World,
    check_decision,
)
from plancontrol.core.restart import unreachable_restart
from plancontrol.core.runner import run_phase, settled_steps
from plancontrol.core.settings import ASKED_IN_MODE

__all__ = [
    "CONTROL_PHASE",
    "approve_step",
    "first_step",
    "prepare_steps",
    "run_step",
    "run_steps",
    "settled_steps",
]


def first_step(ctx: Context, plan: Plan) -> Result[int, Error]:
    """Where control starts: ``restart_at_step`` when set (every earlier step must have
    completed or been skipped), else the first step not yet settled (``n_steps + 1`` when
    all are)."""
    k = ctx.settings.restart_at_step
    done = set(settled_steps(ctx))
    if k == 0:
        return Success(
            next((n for n in range(1, plan.n_steps + 1) if n not in done), plan.n_steps + 1)
        )
    unreachable = unreachable_restart(ctx.settings, plan, done)
    if unreachable is not None:
        return Failure(unreachable)
    return Success(k)


def _gate(
    ctx: Context, world: World, plan: Plan, step: int
) -> Result[Approve | Revise | Skip, Error]:
    """The step's approval: the approver's decision, checked."""
    request = ApprovalRequest(kind="step", task=ctx.task, plan=plan, step=step)
    match check_decision(request, world.approver.decide(request)):
        case Failure(invalid):
            return Failure(invalid)
        case Success(Reject(reason)):
            return Failure(PlanRejected(reason=f"step {step} rejected: {reason}"))
        case Success(Abort(reason)):
            return Failure(Aborted(kind="step", step=step, reason=reason))
        case Success(Approve() | Revise() | Skip() as go):
            return Success(go)
    raise AssertionError("unreachable")  # pragma: no cover


def prepare_steps(ctx: Context, world: World) -> PhaseResult:
    """Check the plan and find where control starts; outcomes from there on are dropped, so
    the runner runs every step not yet completed or skipped."""
    if ctx.plan is None:
        return halt(
            ctx,
            InvalidPlan(
                where="$",
                detail="there is no plan",
                fix="run the planning phases first or load a plan",
            ),
        )
    plan = ctx.plan
    checked: Result[object, Error] = check_plan(plan, ctx.settings)
    match checked.bind(lambda _: first_step(ctx, plan)):
        case Failure(error):
            return halt(ctx, error)
        case Success(start):
            return Success(replace(ctx, outcomes=tuple(o for o in ctx.outcomes if o.step < start)))
    raise AssertionError("unreachable")  # pragma: no cover


def approve_step(ctx: Context, world: World, number: int) -> Result[Go | Context, Halt] | None:
    """The approval before step ``number``, when the mode asks for it (None when not)."""
    assert ctx.plan is not None, "prepare_steps runs first"
    if "step" not in ASKED_IN_MODE[ctx.settings.approval]:
        return None
    match _gate(ctx, world, ctx.plan, number):
        case Failure(error):
            return halt(ctx, error)
        case Success(Skip(reason)):
            return Success(_skip(ctx, ctx.plan, number, reason, None))
        case Success(Revise(text)):
            return Success(Go(text))
    return Success(Go(""))


def run_step(ctx: Context, world: World, number: int, feedback: str) -> StepResult:
    """One run of step ``number`` by its agent's kind; under ``approval="on_error"`` a
    failure goes to the approver, who may have it run again (retry, or revise with
    feedback), skipped, given up or aborted."""
    assert ctx.plan is not None, "prepare_steps runs first"
    plan = ctx.plan
    step = plan.step(number)
    role = ctx.settings.role(step.agent)
    assert role is not None, "check_plan admits roster agents only"
    end: StepEnd = STEP_RUNNERS[role.kind](ctx, world, number, step.agent, feedback)
    ctx = replace(end.context, outcomes=(*end.context.outcomes, end.outcome))
    if end.error is None:
        return Success(ctx)
    if "error" not in ASKED_IN_MODE[ctx.settings.approval]:
        return halt(ctx, end.error)
    return _after_failure(ctx, world, plan, number, end)


def _after_failure(ctx: Context, world: World, plan: Plan, number: int, end: StepEnd) -> StepResult:
    """Put a failed step before the approver (``approval="on_error"``)."""
    assert end.error is not None
    runs = sum(1 for o in ctx.outcomes if o.step == number) - 1
    request = ApprovalRequest(
        kind="error",
        task=ctx.task,
        plan=plan,
        step=number,
        error=end.error.message,
        retries_left=ctx.settings.max_step_retries - runs,
    )
    match check_decision(request, world.approver.decide(request)):
        case Failure(invalid):
            return halt(ctx, invalid)
        case Success(Retry()):
            return Success(Again(ctx, ""))
        case Success(Revise(text)):
            return Success(Again(ctx, text))
        case Success(Skip(reason)):
            return Success(_skip(ctx, plan, number, reason, end.outcome))
        case Success(Abort(reason)):
            return halt(ctx, Aborted(kind="error", step=number, reason=reason))
        case Success(_):  # Reject: give up, the step's own error stands
            return halt(ctx, end.error)
    raise AssertionError("unreachable")  # pragma: no cover


def _skip(
    ctx: Context, plan: Plan, number: int, reason: str, failed: StepOutcome | None
) -> Context:
    """Record step ``number`` as skipped, keeping what a failed run of it did."""
    step = plan.step(number)
    note = reason if failed is None else f"{reason}; it had failed: {failed.error}"
    outcome = StepOutcome(
        step=number,
        agent=step.agent,
        status="skipped",
        code_status=failed.code_status if failed else "not_run",
        attempts=failed.attempts if failed else 0,
        files=failed.files if failed else (),
        error=note,
    )
    return replace(ctx, outcomes=(*ctx.outcomes, outcome))


CONTROL_PHASE = Phase("control", prepare_steps, step=run_step, gate=approve_step)
"""Carry out the plan: each step not yet completed or skipped, one unit each."""


def run_steps(ctx: Context, fx: Effects) -> PhaseResult:
    """The control phase alone, run by the runner (gated, timed and checkpointed per step)."""
    return run_phase(CONTROL_PHASE, ctx, fx)
