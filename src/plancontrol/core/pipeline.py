"""Pipelines are tuples of phases; one small function runs them, timing each and telling events."""

from __future__ import annotations

from msgspec.structs import replace
from returns.result import Failure, Result, Success

from plancontrol.core.context import Context, TimingRow
from plancontrol.core.events import (
    PhaseChange,
    WorkflowComplete,
    WorkflowFailed,
    WorkflowStart,
    deliver,
)
from plancontrol.core.ledger import total_cost
from plancontrol.core.phase import Halt, Phase, PhaseResult
from plancontrol.core.phases.control import run_steps
from plancontrol.core.phases.finalize import finalize
from plancontrol.core.phases.planning import approve_plan, draft_plan, review_plan
from plancontrol.core.plan import Plan, Step
from plancontrol.core.ports import Effects

__all__ = [
    "CONTROL",
    "PLANNING",
    "PLANNING_AND_CONTROL",
    "Pipeline",
    "insert_after",
    "one_shot",
    "phases_after",
    "run_pipeline",
]

Pipeline = tuple[Phase, ...]

PLAN = Phase("plan", draft_plan)
REVIEW = Phase("review", review_plan)
APPROVE = Phase("approve", approve_plan)
CONTROL_PHASE = Phase("control", run_steps)
FINALIZE = Phase("finalize", finalize)

PLANNING_AND_CONTROL: Pipeline = (PLAN, REVIEW, APPROVE, CONTROL_PHASE, FINALIZE)
"""Plan, review, approve, carry out every step, report: CMBAgent's main workflow."""

PLANNING: Pipeline = (PLAN, REVIEW, APPROVE)
"""Planning only: the reviewed, approved plan in ``ctx.plan``."""

CONTROL: Pipeline = (CONTROL_PHASE, FINALIZE)
"""Carry out ``ctx.plan`` (an existing plan, or a resumed run's remaining steps)."""


def one_shot(agent: str = "engineer") -> Pipeline:
    """A single agent does the whole task, as a one-step plan."""

    def single_step_plan(ctx: Context, fx: Effects) -> PhaseResult:
        return Success(replace(ctx, plan=Plan((Step(ctx.task, agent),))))

    return (Phase("one_shot_plan", single_step_plan), CONTROL_PHASE, FINALIZE)


def insert_after(pipeline: Pipeline, name: str, *phases: Phase) -> Pipeline:
    """A copy of ``pipeline`` with ``phases`` right after the phase called ``name``.

    >>> [p.name for p in insert_after(PLANNING, "review", Phase("lint", PLAN.run))]
    ['plan', 'review', 'lint', 'approve']
    """
    names = [p.name for p in pipeline]
    if name not in names:
        raise ValueError(f"no phase {name!r} in the pipeline; it has {', '.join(names)}")
    at = names.index(name) + 1
    return (*pipeline[:at], *phases, *pipeline[at:])


def phases_after(pipeline: Pipeline, label: str | None) -> Pipeline:
    """The phases left to run from the snapshot ``label`` (None: all of them); after a
    step's snapshot the control phase runs again, skipping the steps already completed.

    >>> [p.name for p in phases_after(PLANNING_AND_CONTROL, "step-02")]
    ['control', 'finalize']
    >>> [p.name for p in phases_after(PLANNING_AND_CONTROL, "review")]
    ['approve', 'control', 'finalize']
    """
    if label is None:
        return pipeline
    names = [p.name for p in pipeline]
    name = "control" if label.startswith("step-") else label
    if name not in names:
        raise ValueError(f"no phase {name!r} in the pipeline; it has {', '.join(names)}")
    return pipeline[names.index(name) + (name != "control" or label == "control") :]


def run_pipeline(pipeline: Pipeline, ctx: Context, fx: Effects) -> Result[Context, Halt]:
    """Run the phases in order; the first Failure stops the run and keeps its context."""
    deliver(fx.events, WorkflowStart(task=ctx.task, phases=tuple(p.name for p in pipeline)))
    began = fx.clock.now()
    previous: str | None = None
    for phase in pipeline:
        deliver(fx.events, PhaseChange(phase=phase.name, previous=previous))
        started = fx.clock.now()
        result = phase.run(ctx, fx)
        span = TimingRow(phase=phase.name, step=0, started=started, ended=fx.clock.now())
        match result:
            case Success(ctx):
                ctx = replace(ctx, timings=(*ctx.timings, span))
                fx.checkpoints.save(phase.name, ctx)
            case Failure(h):
                stopped = replace(h.context, timings=(*h.context.timings, span))
                deliver(
                    fx.events,
                    WorkflowFailed(task=ctx.task, phase=phase.name, error=h.error.message),
                )
                return Failure(Halt(h.error, stopped))
        previous = phase.name
    deliver(
        fx.events,
        WorkflowComplete(
            task=ctx.task,
            n_steps=ctx.plan.n_steps if ctx.plan else 0,
            completed_steps=ctx.completed_steps,
            seconds=fx.clock.now() - began,
            cost_usd=total_cost(ctx.usage),
        ),
    )
    return Success(ctx)
