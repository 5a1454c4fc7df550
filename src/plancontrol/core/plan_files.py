"""Plans given to a run: plancontrol's plan.json, CMBAgent's final_plan.json; no I/O."""

from __future__ import annotations

import codecs

import msgspec
from returns.result import Failure, Result, Success

from plancontrol.core.errors import InvalidPlan
from plancontrol.core.plan import Plan, Step

__all__ = ["PLAN_FILE_SHAPE", "parse_plan_file"]

PLAN_FILE_SHAPE = (
    '{"sub_tasks": [{"sub_task": "...", "sub_task_agent": "engineer", "bullet_points": ["..."]}]}'
)
"""What a plan file holds, as plancontrol's plan.json and CMBAgent's final_plan.json do."""

_Shape = Plan | tuple[Step, ...]
"""A plan, or its steps alone: the bare list some CMBAgent versions save
(``final_plan_approved.json``)."""


def _refused(where: str, detail: str, name: str) -> Failure[InvalidPlan]:
    return Failure(
        InvalidPlan(
            where=f"{where} in {name}",
            detail=detail,
            fix=f"a plan file holds {PLAN_FILE_SHAPE}",
        )
    )


def parse_plan_file(data: bytes, name: str = "the plan file") -> Result[Plan, InvalidPlan]:
    """The plan in ``data``, the bytes of a plan file called ``name`` (for messages):
    ``{"sub_tasks": [...]}``, each step with ``sub_task``, ``sub_task_agent`` and optional
    ``bullet_points``, or the list of steps alone. Lines of any length are kept, and a given
    plan is not held to ``max_plan_steps`` (which bounds what a planner proposes); whether
    its agents are in the run's roster is ``check_plan``'s to say. Anything else is one
    ``InvalidPlan`` saying where, what and the shape expected.

    >>> plan = parse_plan_file(
    ...     b'{"sub_tasks": [{"sub_task": "Fit", "sub_task_agent": "engineer",'
    ...     b' "bullet_points": ["use scipy"]}]}').unwrap()
    >>> plan.steps[0].agent, plan.steps[0].bullet_points
    ('engineer', ('use scipy',))
    >>> parse_plan_file(b'[{"sub_task": "Fit", "sub_task_agent": "engineer"}]').unwrap().n_steps
    1
    >>> print(parse_plan_file(b'{"sub_tasks": [{"sub_task": "Fit"}]}', "p.json").failure()
    ...       .message)  # doctest: +ELLIPSIS
    invalid plan at $.sub_tasks[0] in p.json: Object missing required field `sub_task_agent`; \
a plan file holds {"sub_tasks": [...
    """
    text = data.removeprefix(codecs.BOM_UTF8)
    if not text.strip():
        return _refused("$", "the file is empty", name)
    try:
        decoded = msgspec.json.decode(text, type=_Shape)
    except msgspec.ValidationError as exc:
        detail, _, where = str(exc).partition(" - at `")
        return _refused(where.rstrip("`") or "$", detail, name)
    except msgspec.DecodeError as exc:
        return _refused("$", f"not JSON ({exc})", name)
    plan = decoded if isinstance(decoded, Plan) else Plan(decoded)
    if not plan.steps:
        return _refused(
            "$.sub_tasks" if isinstance(decoded, Plan) else "$", "the plan has no steps", name
        )
    return Success(plan)
