"""Settings: every knob of the planning-and-control workflow, frozen and validated; no I/O."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal, get_args

import msgspec
from returns.result import Failure, Result, Success

from plancontrol.core.errors import InvalidSettings

__all__ = [
    "ASKED_IN_MODE",
    "DECISIONS_FOR",
    "DEFAULT_ROLES",
    "ApprovalDefault",
    "ApprovalKind",
    "ApprovalMode",
    "Role",
    "RoleModel",
    "Settings",
    "StepKind",
    "load_settings",
]

StepKind = Literal["code", "text"]
"""How a role carries out a step: ``code`` runs the write-run-judge loop, ``text`` replies once."""

ApprovalMode = Literal["none", "after_planning", "before_each_step", "on_error"]
"""When the approver is asked: never; on the plan; on the plan and before every step; or
when a step fails, before the run gives up (``ASKED_IN_MODE`` lists what each mode asks)."""

ApprovalKind = Literal["plan", "step", "error"]
"""What an approval request is about: the plan, a step about to start, or a failed step."""

ApprovalDefault = Literal["approve", "reject", "skip", "retry", "abort"]
"""The decision an approver gives when nobody answers in ``approval_timeout`` seconds."""

ASKED_IN_MODE: Mapping[ApprovalMode, tuple[ApprovalKind, ...]] = {
    "none": (),
    "after_planning": ("plan",),
    "before_each_step": ("plan", "step"),
    "on_error": ("error",),
}
"""The kinds of approval request each ``approval`` mode puts to the approver."""

DECISIONS_FOR: Mapping[ApprovalKind, tuple[str, ...]] = {
    "plan": ("approve", "reject", "revise", "abort"),
    "step": ("approve", "reject", "revise", "skip", "abort"),
    "error": ("retry", "revise", "skip", "reject", "abort"),
}
"""The decisions (lower-case names of the Decision types) that answer each kind of request."""


class Role(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An agent the planner may assign steps to, with the one line the planner reads about it."""

    name: str
    description: str
    kind: StepKind = "text"
    instructions: str = ""
    """Added to this role's system prompt whenever it carries out a step."""
    reply_schema: str = ""
    """For a text role: a JSON Schema (as JSON text) its reply must follow; the reply is then
    a JSON object, saved as ``reports/step_N_ROLE.json``."""

    @property
    def schema(self) -> dict[str, Any] | None:
        """``reply_schema`` parsed, or None."""
        if not self.reply_schema:
            return None
        parsed: dict[str, Any] = msgspec.json.decode(self.reply_schema)
        return parsed


class RoleModel(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Which model one role uses, overriding ``Settings.default_model``."""

    role: str
    model: str


DEFAULT_ROLES: tuple[Role, ...] = (
    Role("engineer", "writes and runs one self-contained Python script per step", "code"),
    Role("researcher", "writes a Markdown report reasoning over earlier results; runs no code"),
    Role("idea_maker", "proposes a short list of new ideas"),
    Role("idea_hater", "critiques the ideas proposed so far"),
)

#: Roles that take part in every run without appearing in plans.
SUPPORT_ROLES: tuple[str, ...] = ("planner", "plan_reviewer", "judge", "installer")


class Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """All workflow knobs; CMBAgent's defaults where it has one.

    >>> Settings(max_plan_steps=5).max_plan_steps
    5
    """

    max_rounds_planning: int = 50
    max_rounds_control: int = 100
    max_plan_steps: int = 3
    n_plan_reviews: int = 1
    max_n_attempts: int = 3
    max_reply_retries: int = 2
    plan_instructions: str = ""
    engineer_instructions: str = ""
    researcher_instructions: str = ""
    hardware_constraints: str = ""
    researcher_filename: str = "researcher_output.md"
    roles: tuple[Role, ...] = DEFAULT_ROLES
    default_model: str = "gpt-4o-mini"
    role_models: tuple[RoleModel, ...] = ()
    restart_at_step: int = 0
    summary_budget: int = 6000
    summary_verbatim_steps: int = 2
    approval: ApprovalMode = "none"
    approval_timeout: float | None = None
    """Seconds an interactive approver waits for an answer; None waits for ever."""
    approval_default: ApprovalDefault = "abort"
    """What an interactive approver decides on a timeout, or when nobody can answer."""
    max_plan_revisions: int = 3
    max_step_retries: int = 3
    """How many times, under ``approval="on_error"``, one failed step may be run again."""
    max_cost_usd: float | None = None

    def __post_init__(self) -> None:
        problem = _first_problem(self)
        if problem is not None:
            raise ValueError(problem)

    @property
    def role_names(self) -> tuple[str, ...]:
        """Names of the roles a plan may use, in roster order."""
        return tuple(role.name for role in self.roles)

    def role(self, name: str) -> Role | None:
        """The roster entry called ``name``, if any."""
        return next((role for role in self.roles if role.name == name), None)

    def instructions_for(self, role: str) -> str:
        """The role's own instructions, then the engineer's or researcher's knob for those."""
        entry = self.role(role)
        knob = {"engineer": self.engineer_instructions, "researcher": self.researcher_instructions}
        parts = (entry.instructions if entry else "", knob.get(role, ""))
        return "\n".join(p.strip() for p in parts if p.strip())

    def model_for(self, role: str) -> str:
        """The model ``role`` uses: its override, else the default model."""
        return next((rm.model for rm in self.role_models if rm.role == role), self.default_model)


_AT_LEAST: tuple[tuple[str, int], ...] = (
    ("max_rounds_planning", 1),
    ("max_rounds_control", 1),
    ("max_plan_steps", 1),
    ("n_plan_reviews", 0),
    ("max_n_attempts", 1),
    ("max_reply_retries", 0),
    ("restart_at_step", 0),
    ("summary_budget", 200),
    ("summary_verbatim_steps", 0),
    ("max_plan_revisions", 0),
    ("max_step_retries", 0),
)


def _first_problem(s: Settings) -> str | None:
    for name, low in _AT_LEAST:
        value = getattr(s, name)
        if value < low:
            return f"settings.{name} must be at least {low}, got {value}; set it to {low} or more"
    if s.max_cost_usd is not None and not 0 < s.max_cost_usd < math.inf:
        return (
            f"settings.max_cost_usd must be a positive number, got {s.max_cost_usd}; "
            "or leave it unset"
        )
    problem = _approval_problem(s) or _roster_problem(s)
    if problem:
        return problem
    if not s.researcher_filename or "/" in s.researcher_filename:
        return (
            f"settings.researcher_filename must be a plain file name, got "
            f"{s.researcher_filename!r}; use something like 'report.md'"
        )
    return None


def _roster_problem(s: Settings) -> str | None:
    """What is wrong with the roles: none, one twice, one plancontrol runs itself, a model
    for a role nobody has, a reply schema that is not one."""
    if not s.roles:
        return "settings.roles is empty; list at least one role a plan may use"
    names = s.role_names
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        return f"settings.roles names {', '.join(duplicates)} twice; give each role once"
    clashes = sorted(set(names) & set(SUPPORT_ROLES))
    if clashes:
        return (
            f"settings.roles includes {', '.join(clashes)}, which plancontrol runs itself; "
            "remove it from the roster"
        )
    known = set(names) | set(SUPPORT_ROLES)
    for rm in s.role_models:
        if rm.role not in known:
            return (
                f"settings.role_models sets a model for unknown role {rm.role!r}; "
                f"known roles: {', '.join(sorted(known))}"
            )
    for role in s.roles:
        problem = _schema_problem(role)
        if problem:
            return problem
    return None


def _approval_problem(s: Settings) -> str | None:
    if s.approval_timeout is not None and not 0 < s.approval_timeout < math.inf:
        return (
            f"settings.approval_timeout must be a positive number of seconds, got "
            f"{s.approval_timeout}; or leave it unset to wait for ever"
        )
    kinds = ASKED_IN_MODE[s.approval]
    fits = [d for d in get_args(ApprovalDefault) if all(d in DECISIONS_FOR[k] for k in kinds)]
    if s.approval_default not in fits:
        asked = " and ".join(f"{'an' if k == 'error' else 'a'} {k}" for k in kinds)
        return (
            f"settings.approval_default {s.approval_default!r} cannot answer {asked} "
            f"(approval={s.approval!r}); choose one of: {', '.join(fits)}"
        )
    return None


def _schema_problem(role: Role) -> str | None:
    if not role.reply_schema:
        return None
    try:
        schema = msgspec.json.decode(role.reply_schema)
    except msgspec.DecodeError as exc:
        return f"settings.roles: the reply_schema of {role.name!r} is not JSON ({exc}); fix it"
    if not isinstance(schema, dict) or schema.get("type", "object") != "object":
        return (
            f"settings.roles: the reply_schema of {role.name!r} must describe a JSON object "
            '({"type": "object", ...})'
        )
    if role.kind == "code":
        return f"settings.roles: {role.name!r} runs code; only text roles take a reply_schema"
    return None


def load_settings(data: Mapping[str, Any]) -> Result[Settings, InvalidSettings]:
    """Validate untrusted settings (from a file or flags) into ``Settings``.

    >>> print(load_settings({"max_plan_steps": 0}).failure().message)
    invalid settings: settings.max_plan_steps must be at least 1, got 0; set it to 1 or more
    >>> print(load_settings({"max_plan_step": 2}).failure().message)
    invalid settings: Object contains unknown field `max_plan_step`
    """
    try:
        return Success(msgspec.convert(dict(data), Settings))
    except msgspec.ValidationError as exc:
        return Failure(InvalidSettings(detail=_with_choices(str(exc))))


_CHOICES = {"approval": ApprovalMode, "approval_default": ApprovalDefault, "kind": StepKind}


def _with_choices(message: str) -> str:
    """msgspec names a bad enum value but not the good ones: add them."""
    field = message.rpartition(".")[2].rstrip("`")
    if message.startswith("Invalid enum value") and field in _CHOICES:
        return f"{message}; choose one of: {', '.join(get_args(_CHOICES[field]))}"
    return message
