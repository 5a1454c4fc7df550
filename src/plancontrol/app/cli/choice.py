"""Which workflow `run` carries out: planning and control, a given plan, one agent, or yours."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NamedTuple

import typer

from plancontrol.app.cli.exits import fail, or_fail

if TYPE_CHECKING:
    from plancontrol.core.pipeline import Pipeline
    from plancontrol.core.plan import Plan

__all__ = ["OneShot", "PipelineRef", "PlanFile", "PlanningOnly", "Work", "chosen_work"]

PlanFile = Annotated[
    Path | None,
    typer.Option(
        "--plan",
        help="Carry out this plan (plan.json, or CMBAgent's final_plan.json); no planner.",
    ),
]
OneShot = Annotated[
    str | None,
    typer.Option(help="AGENT does the whole task as a one-step plan; no planner."),
]
PlanningOnly = Annotated[
    bool, typer.Option("--planning-only", help="Plan and review, write plan.json, stop.")
]
PipelineRef = Annotated[
    str | None,
    typer.Option("--pipeline", help="MODULE:NAME: a pipeline of your own (a tuple of phases)."),
]


class Work(NamedTuple):
    """The pipeline (None: the library's choice) and the given plan (None: planned)."""

    pipeline: Pipeline | None
    plan: Plan | None


def chosen_work(
    task: str,
    plan_file: Path | None,
    one_shot: str | None,
    planning_only: bool,
    pipeline: str | None,
) -> Work:
    """What the workflow flags ask for; two that exclude each other end the command."""
    from plancontrol.core.pipeline import PLANNING
    from plancontrol.core.plan import Plan, Step

    given = [f for f, on in (("--plan", plan_file), ("--one-shot", one_shot)) if on]
    if planning_only:
        given.append("--planning-only")
    if len(given) > 1:
        raise fail(f"{' and '.join(given)} exclude each other; give one")
    phases = _pipeline(pipeline) if pipeline else (PLANNING if planning_only else None)
    if one_shot:
        return Work(phases, Plan((Step(task, one_shot),)))
    return Work(phases, _plan(plan_file) if plan_file else None)


def _pipeline(spec: str) -> Pipeline:
    from plancontrol.recording.pipelines import named_pipeline

    return or_fail(named_pipeline(spec))


def _plan(path: Path) -> Plan:
    from plancontrol.core.plan_files import parse_plan_file
    from plancontrol.core.problem import Problem

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise fail(f"cannot read the plan file {path}: {exc.strerror or exc}") from None
    parsed = parse_plan_file(data, str(path))
    return or_fail(parsed.alt(lambda e: Problem(what=e.message, where=str(path))))
