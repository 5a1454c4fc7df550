"""Every word the models are told, as pure functions of the context; no I/O."""

from __future__ import annotations

from typing import Any

from msgspec.structs import replace

from plancontrol.core.answers import Verdict
from plancontrol.core.asking import schema_of
from plancontrol.core.carryover import carried_summary, clip
from plancontrol.core.context import Context
from plancontrol.core.plan import Plan, Review, plan_text
from plancontrol.core.ports import Execution, Message, Request
from plancontrol.core.variables import fill

__all__ = [
    "CODE_LIMIT",
    "OUTPUT_LIMIT",
    "engineer_request",
    "installer_request",
    "judge_request",
    "plan_schema",
    "planner_request",
    "retry_note",
    "reviewer_request",
    "summary_for",
    "text_step_request",
]

OUTPUT_LIMIT = 4000
"""Characters of a script's stdout and of its stderr shown to the judge and the engineer."""

CODE_LIMIT = 8000
"""Characters of a script shown back to the judge and, with a retry, to the engineer: a small
model that rambles for thousands of tokens would otherwise overflow the next prompt's context
window (SmolLM2's 8192 tokens, seen on llama.cpp's server)."""


def _request(
    ctx: Context, role: str, phase: str, step: int, attempt: int, system: str, user: str
) -> Request:
    return Request(
        role=role,
        model=ctx.settings.model_for(role),
        phase=phase,
        step=step,
        attempt=attempt,
        system=system.strip(),
        messages=(Message("user", user.strip()),),
    )


def _extra(title: str, text: str) -> str:
    return f"\n\n{title}:\n{text.strip()}" if text.strip() else ""


def _roster(ctx: Context) -> str:
    return "\n".join(f"- {r.name}: {r.description}" for r in ctx.settings.roles)


def _planning_rules(ctx: Context) -> str:
    s = ctx.settings
    return (
        f"The plan must only involve these agents, one agent per step:\n{_roster(ctx)}\n"
        f"The plan has at most {s.max_plan_steps} step(s)."
        + _extra("Hardware constraints", fill(s.hardware_constraints, ctx.variables))
        + _extra("Further instructions", fill(s.plan_instructions, ctx.variables))
    )


def planner_request(ctx: Context, round_: int) -> Request:
    """Ask the planner for a plan, revising the latest draft with the latest review and any
    human feedback."""
    system = (
        "You are the planner. Break the task into elementary steps for the agents below. "
        "Do not carry out the task yourself.\n\n" + _planning_rules(ctx)
    )
    user = f"Task:\n{ctx.task}"
    if ctx.drafts:
        user += _extra("Your previous plan", plan_text(ctx.drafts[-1]))
    if ctx.reviews:
        user += _extra("Reviewer's recommendations to apply", _bullets(ctx.reviews[-1]))
    if ctx.feedback:
        user += _extra("Feedback from the person who approves the plan", ctx.feedback[-1])
    request = _request(ctx, "planner", "planning", 0, round_, system, user)
    return replace(request, schema=plan_schema(ctx))


def plan_schema(ctx: Context) -> dict[str, Any]:
    """The Plan schema narrowed to this run: agents from the roster, 1 to max_plan_steps steps.

    >>> s = plan_schema(Context(task="t"))
    >>> s["$defs"]["Step"]["properties"]["sub_task_agent"]["enum"][:2], s["$defs"]["Plan"][
    ...     "properties"]["sub_tasks"]["maxItems"]
    (['engineer', 'researcher'], 3)
    """
    schema = schema_of(Plan)
    defs = schema["$defs"]
    defs["Step"]["properties"]["sub_task_agent"] = {"enum": list(ctx.settings.role_names)}
    steps = defs["Plan"]["properties"]["sub_tasks"]
    steps.update(minItems=1, maxItems=ctx.settings.max_plan_steps)
    return schema


def _points(points: tuple[str, ...]) -> str:
    return "\n".join(f"- {p}" for p in points)


def _bullets(review: Review) -> str:
    return "\n".join(f"- {r}" for r in review.recommendations)


def reviewer_request(ctx: Context, plan: Plan, round_: int) -> Request:
    """Ask the plan reviewer for recommendations on ``plan``."""
    system = (
        "You are the plan_reviewer. Recommend how to improve the proposed plan: split it into "
        "elementary steps, one agent per step, no repetition, within the step limit and the "
        "hardware. Do not write the plan yourself.\n\n" + _planning_rules(ctx)
    )
    user = f"Task:\n{ctx.task}\n\nProposed plan:\n{plan_text(plan)}"
    return _request(ctx, "plan_reviewer", "planning", 0, round_, system, user)


def _step_brief(ctx: Context, step: int) -> str:
    assert ctx.plan is not None
    current = ctx.plan.step(step)
    settings = ctx.settings
    brief = (
        f"Overall task:\n{ctx.task}\n\n"
        f"You carry out step {step} of {ctx.plan.n_steps}: {current.sub_task}"
        + _extra("Instructions for this step", fill(_points(current.bullet_points), ctx.variables))
    )
    done = carried_summary(
        (o for o in ctx.outcomes if o.step < step),
        settings.summary_budget,
        settings.summary_verbatim_steps,
    )
    brief += _extra("Results of the previous steps", done)
    return brief


def engineer_request(
    ctx: Context,
    step: int,
    attempt: int,
    previous: str,
    role: str = "engineer",
    interpreter: str = "",
) -> Request:
    """Ask the engineer (or another code role) for this attempt's script; ``previous`` tells
    what went wrong last, ``interpreter`` which Python runs the script and its packages.

    >>> from plancontrol.core.plan import Plan, Step
    >>> ctx = Context(task="t", plan=Plan((Step("Count", "engineer", ()),)))
    >>> print(engineer_request(ctx, 1, 1, "", interpreter="Python 3.12.3, with these "
    ...       "packages: numpy==2.1.0").system.splitlines()[-1])
    Python 3.12.3, with these packages: numpy==2.1.0
    """
    s = ctx.settings
    instructions = fill(s.instructions_for(role), ctx.variables)
    system = (
        f"You are the {role}. Write one self-contained Python script that carries out your "
        "step. Save files in the current folder (plots under data/). Print the results."
        + _extra("Hardware constraints", fill(s.hardware_constraints, ctx.variables))
        + _extra("Further instructions", instructions)
        + _extra("The Python that runs your script, and the packages it has", interpreter)
    )
    user = _step_brief(ctx, step) + _extra("Your previous attempt", previous)
    return _request(ctx, role, "control", step, attempt, system, user)


def _execution_report(code: str, run: Execution) -> str:
    status = "timed out" if run.timed_out else f"exit code {run.exit_code}"
    return (
        f"Code:\n```python\n{clip(code.strip(), CODE_LIMIT)}\n```\n\nExecution: {status}"
        + _extra("stdout", clip(run.stdout, OUTPUT_LIMIT))
        + _extra("stderr", clip(run.stderr, OUTPUT_LIMIT))
    )


def judge_request(ctx: Context, step: int, attempt: int, code: str, run: Execution) -> Request:
    """Ask the judge whether the execution accomplished the step, needs a fix, or a package."""
    assert ctx.plan is not None
    system = (
        "You are the judge. Read the code and what its execution printed, and decide: "
        "'success' when the step's goal is met, 'fix' with a concrete fix suggestion when it "
        "is not, 'install' with the package names when a module is missing."
    )
    user = f"Step {step}: {ctx.plan.step(step).sub_task}\n\n" + _execution_report(code, run)
    return _request(ctx, "judge", "control", step, attempt, system, user)


def installer_request(ctx: Context, step: int, attempt: int, verdict: Verdict) -> Request:
    """Ask the installer which packages to install for the judge's diagnosis."""
    system = "You are the installer. Name the PyPI packages that provide the missing modules."
    user = f"The judge says: {verdict.reason}\nSuggested packages: {', '.join(verdict.packages)}"
    return _request(ctx, "installer", "control", step, attempt, system, user)


def retry_note(code: str, run: Execution, verdict: Verdict) -> str:
    """What the engineer is told about its failed attempt (the ``previous`` of the next one)."""
    return (
        _execution_report(code, run)
        + f"\n\nJudge: {verdict.reason}"
        + _extra("Fix suggestion", verdict.fix_suggestion)
    )


def text_step_request(ctx: Context, step: int, role: str, feedback: str = "") -> Request:
    """Ask a text role (researcher, idea maker, …) for its contribution to the step."""
    role_entry = ctx.settings.role(role)
    description = role_entry.description if role_entry else role
    instructions = fill(ctx.settings.instructions_for(role), ctx.variables)
    system = f"You are the {role}, the agent who {description}. Reply in Markdown." + _extra(
        "Further instructions", instructions
    )
    user = _step_brief(ctx, step) + _extra("Feedback", feedback)
    return _request(ctx, role, "control", step, 1, system, user)


def summary_for(code: str, run: Execution, verdict: Verdict) -> str:
    """What later steps learn from a code step: the judge's one-line reading first (the line
    kept once the step is old), then the code that ran and what it printed."""
    return f"{verdict.reason.strip() or 'done'}\n\n" + _execution_report(code, run)
