"""The control phase: carry out the plan's steps in order, carrying context from step to step."""

from __future__ import annotations

from msgspec.structs import replace
from returns.result import Failure, Result, Success

from plancontrol.context import Context, StepOutcome, TimingRow
from plancontrol.effects import ApprovalRequest, Approve, Effects, Reject, Revise
from plancontrol.errors import Cancelled, Error, InvalidPlan, PlanRejected, RestartOutOfRange
from plancontrol.events import StepComplete, StepFailed, StepStart, deliver
from plancontrol.phase import Halt, PhaseResult, halt
from plancontrol.plan import Plan, check_plan
from plancontrol.steps import STEP_RUNNERS

__all__ = ["first_step", "run_steps"]


def first_step(ctx: Context, plan: Plan) -> Result[int, Error]:
    """Where control starts: ``restart_at_step`` when set (every earlier step must have
    completed), else the first step not yet completed (``n_steps + 1`` when all are)."""
    k = ctx.settings.restart_at_step
    done = set(ctx.completed_steps)
    if k == 0:
        return Success(
            next((n for n in range(1, plan.n_steps + 1) if n not in done), plan.n_steps + 1)
        )
    if k > plan.n_steps:
        return Failure(
            RestartOutOfRange(
                step=k,
                n_steps=plan.n_steps,
                detail=f"the plan has {plan.n_steps} step(s); pick a step from 1 to {plan.n_steps}",
            )
        )
    missing = [n for n in range(1, k) if n not in done]
    if missing:
        return Failure(
            RestartOutOfRange(
                step=k,
                n_steps=plan.n_steps,
                detail=f"step {missing[0]} has not completed; restart at step {missing[0]}",
            )
        )
    return Success(k)


def _gate(ctx: Context, fx: Effects, plan: Plan, step: int) -> Result[str, Error]:
    """Cancellation and per-step approval; the feedback (if any) for the step's agent."""
    if not fx.signals.should_continue(step):
        return Failure(Cancelled(step=step))
    if ctx.settings.approval != "before_each_step":
        return Success("")
    match fx.approver.decide(ApprovalRequest(kind="step", task=ctx.task, plan=plan, step=step)):
        case Approve():
            return Success("")
        case Revise(feedback):
            return Success(feedback)
        case Reject(reason):
            return Failure(PlanRejected(reason=f"step {step} rejected: {reason}"))
    raise AssertionError("unreachable")  # pragma: no cover


def run_steps(ctx: Context, fx: Effects) -> PhaseResult:
    """Run each step from the plan (sub-task, instructions, agent), by the agent's kind;
    completed steps of a resumed context are kept, with their summaries, and not run again."""
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
            pass
    ctx = replace(ctx, outcomes=tuple(o for o in ctx.outcomes if o.step < start))
    for number in range(start, plan.n_steps + 1):
        if number in ctx.completed_steps:
            continue
        step = plan.step(number)
        match _gate(ctx, fx, plan, number):
            case Failure(error):
                return halt(ctx, error)
            case Success(feedback):
                pass
        role = ctx.settings.role(step.agent)
        assert role is not None, "check_plan admits roster agents only"
        started = fx.clock.now()
        deliver(
            fx.events,
            StepStart(
                step=number,
                n_steps=plan.n_steps,
                goal=step.sub_task,
                agent=step.agent,
                started=started,
            ),
        )
        end = STEP_RUNNERS[role.kind](ctx, fx, number, step.agent, feedback)
        ended = fx.clock.now()
        ctx = _record(
            end.context,
            end.outcome,
            TimingRow(phase="control", step=number, started=started, ended=ended),
        )
        fx.checkpoints.save(f"step-{number:02d}", ctx)
        if end.error is not None:
            deliver(
                fx.events,
                StepFailed(
                    step=number,
                    goal=step.sub_task,
                    status="failed",
                    started=started,
                    ended=ended,
                    error=end.error.message,
                ),
            )
            return Failure(Halt(end.error, ctx))
        deliver(
            fx.events,
            StepComplete(
                step=number,
                goal=step.sub_task,
                status="completed",
                started=started,
                ended=ended,
                summary=end.outcome.summary,
            ),
        )
    return Success(ctx)


def _record(ctx: Context, outcome: StepOutcome, timing: TimingRow) -> Context:
    return replace(ctx, outcomes=(*ctx.outcomes, outcome), timings=(*ctx.timings, timing))
