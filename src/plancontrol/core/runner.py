"""The runner: the one loop that gates, runs, times, checkpoints and reports each unit."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import replace as evolve
from typing import NamedTuple

from msgspec.structs import replace
from returns.result import Failure, Result, Success

from plancontrol.core.context import Context, TimingRow
from plancontrol.core.errors import Cancelled
from plancontrol.core.events import (
    PhaseChange,
    PlanningComplete,
    PlanningStart,
    StepComplete,
    StepFailed,
    StepStart,
    WorkflowComplete,
    WorkflowFailed,
    WorkflowStart,
)
from plancontrol.core.ledger import total_cost
from plancontrol.core.phase import Again, Go, Halt, Phase, PhaseResult, StepFn, StepGate, halt
from plancontrol.core.plan import plan_text
from plancontrol.core.ports import Effects
from plancontrol.core.telling import TellingAgents, TellingExecutor

__all__ = ["Unit", "pending_steps", "run_phase", "run_pipeline", "settled_steps", "step_label"]


def step_label(step: int) -> str:
    """The label of plan step ``step``'s unit: its snapshot, cassette and ``--part`` name.

    >>> step_label(3)
    'step-03'
    """
    return f"step-{step:02d}"


@dataclass(frozen=True, slots=True)
class Unit:
    """One thing the runner runs: a phase, or one plan step of a phase that has steps."""

    label: str
    phase: str
    step: int = 0


def settled_steps(ctx: Context) -> tuple[int, ...]:
    """Steps whose latest outcome is ``completed`` or ``skipped``: those a resume goes past."""
    latest = {o.step: o for o in ctx.outcomes}
    return tuple(sorted(n for n, o in latest.items() if o.status in ("completed", "skipped")))


def pending_steps(ctx: Context) -> tuple[int, ...]:
    """The plan steps not settled yet: each a unit of the schedule."""
    settled = set(settled_steps(ctx))
    n = ctx.plan.n_steps if ctx.plan else 0
    return tuple(k for k in range(1, n + 1) if k not in settled)


def _with_span(ctx: Context, unit: Unit, started: float, ended: float) -> Context:
    span = TimingRow(phase=unit.phase, step=unit.step, started=started, ended=ended)
    return replace(ctx, timings=(*ctx.timings, span))


def _telling(fx: Effects, ctx: Context) -> Effects:
    """``fx`` whose agents and executor tell each call to the event sink."""
    agents = TellingAgents(fx.agents, fx.events, total_cost(ctx.usage))
    return evolve(fx, agents=agents, executor=TellingExecutor(fx.executor, fx.events))


def _gate(fx: Effects, ctx: Context, unit: Unit) -> PhaseResult:
    """The safe point before a unit: a cancelled run stops here."""
    if not fx.signals.should_continue(unit.step):
        return halt(ctx, Cancelled(step=unit.step))
    return Success(ctx)


def _run_whole(phase: Phase, ctx: Context, fx: Effects) -> PhaseResult:
    """A phase without steps: one unit, checkpointed under the phase's name."""
    unit = Unit(phase.name, phase.name)
    if isinstance(gated := _gate(fx, ctx, unit), Failure):
        return gated
    return _timed(unit, lambda: phase.run(ctx, fx.world), fx)


def _timed(unit: Unit, run: Callable[[], PhaseResult], fx: Effects) -> PhaseResult:
    """Run ``run`` between two clock readings, its span added to the context it ends with;
    a success is checkpointed under the unit's label."""
    started = fx.clock.now()
    result = run()
    ended = fx.clock.now()
    match result:
        case Success(done):
            done = _with_span(done, unit, started, ended)
            fx.checkpoints.save(unit.label, done)
            return Success(done)
        case Failure(Halt(error, stopped)):
            return halt(_with_span(stopped, unit, started, ended), error)
    raise AssertionError("unreachable")  # pragma: no cover


class _Span(NamedTuple):
    step: int
    goal: str
    started: float
    ended: float


def _failed(s: _Span, error: str) -> StepFailed:
    return StepFailed(
        step=s.step, goal=s.goal, status="failed", started=s.started, ended=s.ended, error=error
    )


def _complete(s: _Span, status: str, summary: str) -> StepComplete:
    return StepComplete(
        step=s.step, goal=s.goal, status=status, started=s.started, ended=s.ended, summary=summary
    )


def _goal(ctx: Context, unit: Unit) -> str:
    assert ctx.plan is not None
    return ctx.plan.step(unit.step).sub_task


def _approved(gate: StepGate, unit: Unit, ctx: Context, fx: Effects) -> Result[Go | Context, Halt]:
    """The step's approval, and the safe point after waiting on it; a step settled there
    (skipped) is checkpointed and told."""
    asked = gate(ctx, fx.world, unit.step)
    match asked:
        case None:
            return Success(Go(""))
        case Success(Go() as go):
            return _gate(fx, ctx, unit).map(lambda _: go)
        case Success(Context() as settled):
            fx.checkpoints.save(unit.label, settled)
            now = fx.clock.now()
            last = settled.outcomes[-1]
            span = _Span(unit.step, _goal(settled, unit), now, now)
            fx.events.emit(_complete(span, last.status, last.summary))
    return asked


def _run_step(phase: Phase, unit: Unit, ctx: Context, fx: Effects) -> PhaseResult:
    """One plan step as a unit: the safe point, its approval, then its runs."""
    assert phase.step is not None
    if isinstance(gated := _gate(fx, ctx, unit), Failure):
        return gated
    match _approved(phase.gate, unit, ctx, fx) if phase.gate else Success(Go("")):
        case Failure() as stopped:
            return stopped
        case Success(Context() as settled):
            return Success(settled)
        case Success(Go(feedback)):
            pass
    return _run_until_settled(phase.step, unit, ctx, fx, feedback)


def _run_until_settled(
    step: StepFn, unit: Unit, ctx: Context, fx: Effects, feedback: str
) -> PhaseResult:
    """Run the step (again, while the approver asks for it), time each run, checkpoint the
    step once its fate is settled, and tell how each run ended."""
    assert ctx.plan is not None
    goal, agent = _goal(ctx, unit), ctx.plan.step(unit.step).agent
    while True:
        started = fx.clock.now()
        n, k = ctx.plan.n_steps, unit.step
        fx.events.emit(StepStart(step=k, n_steps=n, goal=goal, agent=agent, started=started))
        result = step(ctx, fx.world, unit.step, feedback)
        ended = fx.clock.now()
        span = _Span(unit.step, goal, started, ended)
        match result:
            case Success(Again(again, feedback)):
                ctx = _with_span(again, unit, started, ended)
                fx.events.emit(_failed(span, ctx.outcomes[-1].error))
                if isinstance(gated := _gate(fx, ctx, unit), Failure):
                    fx.checkpoints.save(unit.label, ctx)
                    return gated
            case Success(Context() as done):
                done = _with_span(done, unit, started, ended)
                fx.checkpoints.save(unit.label, done)
                last = done.outcomes[-1]
                fx.events.emit(_complete(span, last.status, last.summary))
                return Success(done)
            case Failure(Halt(error, stopped)):
                stopped = _with_span(stopped, unit, started, ended)
                fx.checkpoints.save(unit.label, stopped)
                fx.events.emit(_failed(span, error.message))
                return halt(stopped, error)


def _announce_plan(fx: Effects, ctx: Context, began: float | None) -> None:
    """Tell the plan that will be carried out, when this run made it; timed to the end of
    the last unit (no clock reading of its own, so that a part replayed alone reads the
    clock as the run did)."""
    if began is None or ctx.plan is None:
        return
    ended = ctx.timings[-1].ended if ctx.timings else began
    fx.events.emit(
        PlanningComplete(
            task=ctx.task,
            n_steps=ctx.plan.n_steps,
            steps=ctx.plan.steps,
            plan_text=plan_text(ctx.plan),
            seconds=ended - began,
        )
    )


def _run_steps(phase: Phase, ctx: Context, fx: Effects) -> PhaseResult:
    """A phase with steps: ``run`` prepares, then each pending plan step is a unit."""
    match phase.run(ctx, fx.world):
        case Failure() as stopped:
            return stopped
        case Success(ctx):
            pass
    for number in pending_steps(ctx):
        unit = Unit(step_label(number), phase.name, number)
        match _run_step(phase, unit, ctx, fx):
            case Failure() as stopped:
                return stopped
            case Success(ctx):
                pass
    return Success(ctx)


def _units(phase: Phase, ctx: Context, fx: Effects) -> PhaseResult:
    if phase.step is None:
        return _run_whole(phase, ctx, fx)
    return _run_steps(phase, ctx, fx)


def run_phase(phase: Phase, ctx: Context, fx: Effects) -> PhaseResult:
    """Run one phase's units with the runner's bookkeeping (no workflow events)."""
    return _units(phase, ctx, _telling(fx, ctx))


def _timed_steps(phase: Phase, ctx: Context, fx: Effects) -> PhaseResult:
    """A phase with steps, timed as a whole too and checkpointed under its name."""
    return _timed(Unit(phase.name, phase.name), lambda: _units(phase, ctx, fx), fx)


def _planning_start(fx: Effects, ctx: Context, began: float) -> float | None:
    """Tell that planning starts, when the context has no plan yet; when it started."""
    if ctx.plan is not None:
        return None
    fx.events.emit(
        PlanningStart(
            task=ctx.task,
            max_plan_steps=ctx.settings.max_plan_steps,
            planner_model=ctx.settings.model_for("planner"),
        )
    )
    return began


def run_pipeline(pipeline: tuple[Phase, ...], ctx: Context, fx: Effects) -> Result[Context, Halt]:
    """Run the phases in order, each unit gated, timed, checkpointed and told; the first
    Failure stops the run and keeps its context."""
    fx = _telling(fx, ctx)
    fx.events.emit(WorkflowStart(task=ctx.task, phases=tuple(p.name for p in pipeline)))
    began = fx.clock.now()
    planning = _planning_start(fx, ctx, began)
    previous: str | None = None
    for phase in pipeline:
        fx.events.emit(PhaseChange(phase=phase.name, previous=previous))
        if phase.step is not None:
            _announce_plan(fx, ctx, planning)
            planning = None
        run = _units if phase.step is None else _timed_steps
        match run(phase, ctx, fx):
            case Success(ctx):
                pass
            case Failure(Halt(error, stopped)):
                fx.events.emit(WorkflowFailed(task=ctx.task, phase=phase.name, error=error.message))
                return halt(stopped, error)
        previous = phase.name
    _announce_plan(fx, ctx, planning)
    fx.events.emit(
        WorkflowComplete(
            task=ctx.task,
            n_steps=ctx.plan.n_steps if ctx.plan else 0,
            completed_steps=ctx.completed_steps,
            seconds=fx.clock.now() - began,
            cost_usd=total_cost(ctx.usage),
        )
    )
    return Success(ctx)
