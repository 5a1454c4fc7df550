"""The control phase: carry out the plan's steps in order, carrying context from step to step."""

from __future__ import annotations

from msgspec.structs import replace
from returns.result import Failure, Result, Success

from plancontrol.core.context import Context, StepOutcome, TimingRow
from plancontrol.core.errors import (
    Aborted,
    Cancelled,
    Error,
    InvalidPlan,
    PlanRejected,
    RestartOutOfRange,
)
from plancontrol.core.events import StepComplete, StepFailed, StepStart, deliver
from plancontrol.core.phase import Halt, PhaseResult, halt
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
    check_decision,
)
from plancontrol.core.settings import ASKED_IN_MODE

__all__ = ["first_step", "run_steps", "settled_steps"]


def settled_steps(ctx: Context) -> tuple[int, ...]:
    """Steps whose latest outcome is ``completed`` or ``skipped``: those a resume goes past."""
    latest = {o.step: o for o in ctx.outcomes}
    return tuple(sorted(n for n, o in latest.items() if o.status in ("completed", "skipped")))


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


def _gate(
    ctx: Context, fx: Effects, plan: Plan, step: int
) -> Result[Approve | Revise | Skip, Error]:
    """The safe point before a step: cancellation, then the step's approval when the mode
    asks for it (checking cancellation again after waiting on the approver)."""
    if not fx.signals.should_continue(step):
        return Failure(Cancelled(step=step))
    if "step" not in ASKED_IN_MODE[ctx.settings.approval]:
        return Success(Approve())
    request = ApprovalRequest(kind="step", task=ctx.task, plan=plan, step=step)
    match check_decision(request, fx.approver.decide(request)):
        case Failure(invalid):
            return Failure(invalid)
        case Success(Reject(reason)):
            return Failure(PlanRejected(reason=f"step {step} rejected: {reason}"))
        case Success(Abort(reason)):
            return Failure(Aborted(kind="step", step=step, reason=reason))
        case Success(Approve() | Revise() | Skip() as go):
            if not fx.signals.should_continue(step):
                return Failure(Cancelled(step=step))
            return Success(go)
    raise AssertionError("unreachable")  # pragma: no cover


def run_steps(ctx: Context, fx: Effects) -> PhaseResult:
    """Run each step from the plan (sub-task, instructions, agent), by the agent's kind;
    completed (or skipped) steps of a resumed context are kept, with their summaries, and
    not run again. Cancellation is checked before each step."""
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
        if number in settled_steps(ctx):
            continue
        match _gate(ctx, fx, plan, number):
            case Failure(error):
                return halt(ctx, error)
            case Success(Skip(reason)):
                ctx = _skip(ctx, fx, plan, number, reason, None)
                continue
            case Success(Revise(feedback)):
                pass
            case Success(_):
                feedback = ""
        match _run_step(ctx, fx, plan, number, feedback):
            case Failure(h):
                return Failure(h)
            case Success(ctx):
                pass
    return Success(ctx)


def _run_step(ctx: Context, fx: Effects, plan: Plan, number: int, feedback: str) -> PhaseResult:
    """Carry out one step; under ``approval="on_error"`` a failure goes to the approver, who
    may have it run again (retry, or revise with feedback), skipped, given up or aborted.

    The step's snapshot is saved once its fate is settled, so a replay compares one
    snapshot per step however often the step ran."""
    step = plan.step(number)
    role = ctx.settings.role(step.agent)
    assert role is not None, "check_plan admits roster agents only"
    runs = 0
    while True:
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
        end: StepEnd = STEP_RUNNERS[role.kind](ctx, fx, number, step.agent, feedback)
        ended = fx.clock.now()
        ctx = _record(
            end.context,
            end.outcome,
            TimingRow(phase="control", step=number, started=started, ended=ended),
        )
        if end.error is None:
            fx.checkpoints.save(f"step-{number:02d}", ctx)
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
        stop: Error = end.error
        if "error" in ASKED_IN_MODE[ctx.settings.approval]:
            request = ApprovalRequest(
                kind="error",
                task=ctx.task,
                plan=plan,
                step=number,
                error=end.error.message,
                retries_left=ctx.settings.max_step_retries - runs,
            )
            again: str | None = None
            match check_decision(request, fx.approver.decide(request)):
                case Failure(invalid):
                    stop = invalid
                case Success(Retry()):
                    again = ""
                case Success(Revise(text)):
                    again = text
                case Success(Skip(reason)):
                    return Success(_skip(ctx, fx, plan, number, reason, end.outcome))
                case Success(Abort(reason)):
                    stop = Aborted(kind="error", step=number, reason=reason)
                case Success(_):  # Reject: give up, the step's own error stands
                    pass
            if again is not None:
                if fx.signals.should_continue(number):
                    feedback, runs = again, runs + 1
                    continue
                stop = Cancelled(step=number)
        fx.checkpoints.save(f"step-{number:02d}", ctx)
        return Failure(Halt(stop, ctx))


def _skip(
    ctx: Context, fx: Effects, plan: Plan, number: int, reason: str, failed: StepOutcome | None
) -> Context:
    """Record step ``number`` as skipped (keeping what a failed run of it did) and say so."""
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
    ctx = replace(ctx, outcomes=(*ctx.outcomes, outcome))
    fx.checkpoints.save(f"step-{number:02d}", ctx)
    now = fx.clock.now()
    deliver(
        fx.events,
        StepComplete(
            step=number, goal=step.sub_task, status="skipped", started=now, ended=now, summary=""
        ),
    )
    return ctx


def _record(ctx: Context, outcome: StepOutcome, timing: TimingRow) -> Context:
    return replace(ctx, outcomes=(*ctx.outcomes, outcome), timings=(*ctx.timings, timing))
