"""Typed run events: what the runner and the per-call decorators tell an event sink."""

from __future__ import annotations

import msgspec

from plancontrol.core.plan import Step

__all__ = [
    "AgentReplied",
    "CodeExecuted",
    "CostUpdate",
    "Event",
    "PhaseChange",
    "PlanningComplete",
    "PlanningStart",
    "StepComplete",
    "StepFailed",
    "StepStart",
    "WorkflowComplete",
    "WorkflowFailed",
    "WorkflowStart",
]


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


class _Event(msgspec.Struct, frozen=True, kw_only=True, tag=_snake):
    pass


class WorkflowStart(_Event, frozen=True):
    task: str
    phases: tuple[str, ...]


class WorkflowComplete(_Event, frozen=True):
    task: str
    n_steps: int
    completed_steps: tuple[int, ...]
    seconds: float
    cost_usd: float | None


class WorkflowFailed(_Event, frozen=True):
    task: str
    phase: str
    error: str


class PlanningStart(_Event, frozen=True):
    task: str
    max_plan_steps: int
    planner_model: str


class PlanningComplete(_Event, frozen=True):
    task: str
    n_steps: int
    steps: tuple[Step, ...]
    plan_text: str
    seconds: float


class PhaseChange(_Event, frozen=True):
    phase: str
    previous: str | None


class StepStart(_Event, frozen=True):
    step: int
    n_steps: int
    goal: str
    agent: str
    started: float


class StepComplete(_Event, frozen=True):
    step: int
    goal: str
    status: str
    started: float
    ended: float
    summary: str


class StepFailed(_Event, frozen=True):
    step: int
    goal: str
    status: str
    started: float
    ended: float
    error: str


class AgentReplied(_Event, frozen=True):
    role: str
    step: int
    attempt: int
    text: str


class CodeExecuted(_Event, frozen=True):
    step: int
    attempt: int
    filename: str
    exit_code: int
    timed_out: bool


class CostUpdate(_Event, frozen=True):
    role: str
    model: str
    step: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    total_cost_usd: float | None


Event = (
    WorkflowStart
    | WorkflowComplete
    | WorkflowFailed
    | PlanningStart
    | PlanningComplete
    | PhaseChange
    | StepStart
    | StepComplete
    | StepFailed
    | AgentReplied
    | CodeExecuted
    | CostUpdate
)
"""Every event a run emits; ``event_name(e)`` is the suffix of its ``on_*`` callback."""


def event_name(event: Event) -> str:
    """The event's tag, e.g. ``step_start`` for ``StepStart``."""
    return _snake(type(event).__name__)
