"""Pipelines are tuples of phases, composed as data; the runner (``core.runner``) runs them."""

from __future__ import annotations

from msgspec.structs import replace
from returns.result import Success

from plancontrol.core.context import Context
from plancontrol.core.phase import Phase, PhaseResult
from plancontrol.core.phases.control import CONTROL_PHASE
from plancontrol.core.phases.finalize import finalize
from plancontrol.core.phases.planning import approve_plan, draft_plan, review_plan
from plancontrol.core.plan import Plan, Step
from plancontrol.core.ports import World
from plancontrol.core.runner import run_pipeline

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
FINALIZE = Phase("finalize", finalize)

PLANNING_AND_CONTROL: Pipeline = (PLAN, REVIEW, APPROVE, CONTROL_PHASE, FINALIZE)
"""Plan, review, approve, carry out every step, report: CMBAgent's main workflow."""

PLANNING: Pipeline = (PLAN, REVIEW, APPROVE)
"""Planning only: the reviewed, approved plan in ``ctx.plan``."""

CONTROL: Pipeline = (CONTROL_PHASE, FINALIZE)
"""Carry out ``ctx.plan`` (an existing plan, or a resumed run's remaining steps)."""


def one_shot(agent: str = "engineer") -> Pipeline:
    """A single agent does the whole task, as a one-step plan."""

    def single_step_plan(ctx: Context, world: World) -> PhaseResult:
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
    if label.startswith("step-"):
        at = next((i for i, p in enumerate(pipeline) if p.step is not None), None)
        if at is None:
            raise ValueError(f"no phase in the pipeline carries out plan steps: {', '.join(names)}")
        return pipeline[at:]
    if label not in names:
        raise ValueError(f"no phase {label!r} in the pipeline; it has {', '.join(names)}")
    return pipeline[names.index(label) + 1 :]
