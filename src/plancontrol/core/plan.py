"""Plans and reviews: their wire shapes and the checks a plan must pass before it runs; no I/O."""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta
from returns.result import Failure, Result, Success

from plancontrol.core.errors import InvalidPlan
from plancontrol.core.settings import Settings

__all__ = [
    "Line",
    "Lines",
    "Plan",
    "Review",
    "Step",
    "asked_chars",
    "asked_items",
    "check_plan",
    "check_proposed",
    "plan_text",
]


def asked_chars(limit: int) -> Meta:
    """A string bound for the model only: the request schema says ``maxLength``, so that a
    small model cannot ramble, but decoding never checks it (a line a person or a strong
    model wrote may be longer, and stored data must always load).

    >>> class Note(msgspec.Struct):
    ...     text: Annotated[str, asked_chars(3)]
    >>> msgspec.json.schema(Note)["$defs"]["Note"]["properties"]["text"]["maxLength"]
    3
    >>> msgspec.json.decode(b'{"text": "longer than three"}', type=Note).text
    'longer than three'
    """
    return Meta(extra_json_schema={"maxLength": limit})


def asked_items(limit: int) -> Meta:
    """An array bound for the model only (``maxItems`` in the request schema), never checked
    when data is decoded; see ``asked_chars``."""
    return Meta(extra_json_schema={"maxItems": limit})


Line = Annotated[str, asked_chars(400)]
"""One line of a plan or review: a model is asked for at most 400 characters; a stored or
given line may be of any length."""
Lines = Annotated[tuple[Line, ...], asked_items(12)]


class Step(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, rename={"agent": "sub_task_agent"}
):
    """One step of a plan: what to do, who does it, and the instructions for it."""

    sub_task: Line
    agent: Annotated[str, asked_chars(64)]
    bullet_points: Lines = ()


class Plan(msgspec.Struct, frozen=True, forbid_unknown_fields=True, rename={"steps": "sub_tasks"}):
    """The structured plan. Its step count is ``len(plan.steps)``, never stored beside it.

    >>> plan = msgspec.json.decode(
    ...     b'{"sub_tasks": [{"sub_task": "Fit", "sub_task_agent": "engineer"}]}', type=Plan)
    >>> plan.steps[0].agent, plan.n_steps
    ('engineer', 1)
    """

    steps: tuple[Step, ...]

    @property
    def n_steps(self) -> int:
        """Number of steps, derived from the steps themselves."""
        return len(self.steps)

    def step(self, number: int) -> Step:
        """Step ``number``, counted from 1 as in every message and file name."""
        return self.steps[number - 1]


class Review(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The plan reviewer's recommendations for the next revision of the plan."""

    recommendations: Lines


def check_proposed(plan: Plan, settings: Settings) -> Result[Plan, InvalidPlan]:
    """Accept a plan the planner proposed only when it is within ``max_plan_steps`` and
    passes ``check_plan``; the step cap bounds what the planner may propose, never a plan
    given to the run.

    >>> from plancontrol.core.settings import Settings
    >>> four = Plan(tuple(Step(f"Part {n}", "engineer") for n in range(4)))
    >>> check_proposed(four, Settings(max_plan_steps=3)).failure().detail
    '4 steps exceed max_plan_steps=3'
    >>> check_plan(four, Settings(max_plan_steps=3)).unwrap().n_steps
    4
    """
    if plan.n_steps > settings.max_plan_steps:
        return Failure(
            InvalidPlan(
                where="$.sub_tasks",
                detail=f"{plan.n_steps} steps exceed max_plan_steps={settings.max_plan_steps}",
                fix="raise max_plan_steps or ask the planner for fewer steps",
            )
        )
    return check_plan(plan, settings)


def check_plan(plan: Plan, settings: Settings) -> Result[Plan, InvalidPlan]:
    """Accept ``plan`` (proposed or given) only when it is non-empty and uses roster agents,
    each step with a sub-task; its length is not bounded here (see ``check_proposed``).

    >>> from plancontrol.core.settings import Settings
    >>> bad = Plan((Step("Plot", "painter"),))
    >>> print(check_plan(bad, Settings()).failure().message)  # doctest: +NORMALIZE_WHITESPACE
    invalid plan at $.sub_tasks[0].sub_task_agent: 'painter' is not in the roster;
    use one of: engineer, researcher, idea_maker, idea_hater
    """
    if not plan.steps:
        return Failure(
            InvalidPlan(
                where="$.sub_tasks",
                detail="the plan has no steps",
                fix="ask for at least one step (check the planner's instructions)",
            )
        )
    allowed = settings.role_names
    for index, step in enumerate(plan.steps):
        if step.agent not in allowed:
            return Failure(
                InvalidPlan(
                    where=f"$.sub_tasks[{index}].sub_task_agent",
                    detail=f"{step.agent!r} is not in the roster",
                    fix=f"use one of: {', '.join(allowed)}",
                )
            )
        if not step.sub_task.strip():
            return Failure(
                InvalidPlan(
                    where=f"$.sub_tasks[{index}].sub_task",
                    detail="the sub-task is empty",
                    fix="every step needs a sub-task",
                )
            )
    return Success(plan)


def plan_text(plan: Plan) -> str:
    """The plan as the numbered Markdown a person (and the next prompt) reads.

    >>> print(plan_text(Plan((Step("Fit", "engineer", ("use scipy",)),))))
    Step 1 (engineer): Fit
      - use scipy
    """
    lines: list[str] = []
    for number, step in enumerate(plan.steps, start=1):
        lines.append(f"Step {number} ({step.agent}): {step.sub_task}")
        lines.extend(f"  - {point}" for point in step.bullet_points)
    return "\n".join(lines)
