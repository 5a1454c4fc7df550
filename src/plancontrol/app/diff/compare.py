"""Two runs compared step by step, as data (a Diff); pure: reads nothing, prints nothing."""

from __future__ import annotations

import msgspec

from plancontrol.app.diff.record import RunRecord, StepRecord
from plancontrol.core.plan import Step

__all__ = ["ASPECTS", "Diff", "PlanChange", "StepDiff", "compare", "compare_step", "plan_changes"]

ASPECTS = ("requests", "code", "outputs", "summary", "files")
"""What may differ in a step, in the order said."""


class PlanChange(msgspec.Struct, frozen=True, kw_only=True):
    """A plan step that differs: its number, the field, and each run's value ("" if absent)."""

    step: int
    field: str
    a: str
    b: str


class StepDiff(msgspec.Struct, frozen=True, kw_only=True):
    """One step in both runs: what differs (ASPECTS), which requests and files, cost and time."""

    step: int
    agent_a: str
    agent_b: str
    status_a: str
    status_b: str
    changed: tuple[str, ...]
    requests: tuple[str, ...]  # e.g. "engineer 1": the engineer's first request in the step
    files: tuple[str, ...]
    tokens_a: int
    tokens_b: int
    cost_a: float | None
    cost_b: float | None
    seconds_a: float
    seconds_b: float


class Diff(msgspec.Struct, frozen=True, kw_only=True):
    """Two runs side by side: task, plan changes and every step (0: planning)."""

    run_a: str
    run_b: str
    task_a: str
    task_b: str
    plan: tuple[PlanChange, ...]
    steps: tuple[StepDiff, ...]

    @property
    def same(self) -> bool:
        """Whether the runs match: task, plan, and every step's aspects."""
        return self.task_a == self.task_b and not self.plan and not self.changed_steps

    @property
    def changed_steps(self) -> tuple[int, ...]:
        """The steps (0: planning) where anything differs."""
        return tuple(s.step for s in self.steps if s.changed)


def _plan_fields(step: Step | None) -> dict[str, str]:
    if step is None:
        return {"agent": "", "sub_task": "", "instructions": ""}
    return {
        "agent": step.agent,
        "sub_task": step.sub_task,
        "instructions": "\n".join(step.bullet_points),
    }


def plan_changes(a: tuple[Step, ...], b: tuple[Step, ...]) -> tuple[PlanChange, ...]:
    """Each (step, field) whose value differs; a step only one plan has differs in all.

    >>> one = Step(sub_task="count", agent="engineer")
    >>> plan_changes((one,), (one, Step(sub_task="report", agent="researcher")))[0]
    PlanChange(step=2, field='agent', a='', b='researcher')
    >>> plan_changes((one,), (one,))
    ()
    """
    found = []
    for n in range(1, max(len(a), len(b)) + 1):
        left = _plan_fields(a[n - 1] if n <= len(a) else None)
        right = _plan_fields(b[n - 1] if n <= len(b) else None)
        found += [
            PlanChange(step=n, field=k, a=left[k], b=right[k]) for k in left if left[k] != right[k]
        ]
    return tuple(found)


def _keyed(pairs: dict[str, str], other: dict[str, str]) -> tuple[str, ...]:
    """The keys whose values differ or that only one side has, in first-seen order."""
    keys = list(dict.fromkeys([*pairs, *other]))
    return tuple(k for k in keys if pairs.get(k) != other.get(k))


def _request_keys(step: StepRecord | None) -> dict[str, str]:
    return {} if step is None else {f"{r.role} {r.attempt}": r.sha256 for r in step.requests}


def _attempts(step: StepRecord | None, what: str) -> tuple[object, ...]:
    if step is None:
        return ()
    if what == "code":
        return tuple(a.code for a in step.attempts)
    return tuple((a.exit_code, a.timed_out, a.stdout, a.stderr, a.failure) for a in step.attempts)


def _empty(number: int) -> StepRecord:
    return StepRecord(
        step=number,
        agent="",
        status="absent",
        requests=(),
        attempts=(),
        summary="",
        files=(),
        tokens=0,
        cost_usd=0.0,
        seconds=0.0,
    )


def compare_step(a: StepRecord | None, b: StepRecord | None) -> StepDiff:
    """One step of each run (None: the run has no such step), compared."""
    number = (a or b or _empty(0)).step
    left, right = a or _empty(number), b or _empty(number)
    requests = _keyed(_request_keys(a), _request_keys(b))
    files = _keyed(dict(left.files), dict(right.files))
    differs = {
        "requests": bool(requests),
        "code": _attempts(a, "code") != _attempts(b, "code"),
        "outputs": _attempts(a, "outputs") != _attempts(b, "outputs"),
        "summary": left.summary != right.summary,
        "files": bool(files),
    }
    return StepDiff(
        step=number,
        agent_a=left.agent,
        agent_b=right.agent,
        status_a=left.status,
        status_b=right.status,
        changed=tuple(k for k in ASPECTS if differs[k]) or _status(left, right),
        requests=requests,
        files=files,
        tokens_a=left.tokens,
        tokens_b=right.tokens,
        cost_a=left.cost_usd,
        cost_b=right.cost_usd,
        seconds_a=left.seconds,
        seconds_b=right.seconds,
    )


def _status(a: StepRecord, b: StepRecord) -> tuple[str, ...]:
    return () if (a.agent, a.status) == (b.agent, b.status) else ("status",)


def compare(a: RunRecord, b: RunRecord) -> Diff:
    """``a`` and ``b`` side by side: plan changes, and each step's differences."""
    by_a = {s.step: s for s in a.steps}
    by_b = {s.step: s for s in b.steps}
    numbers = sorted({*by_a, *by_b})
    return Diff(
        run_a=a.folder,
        run_b=b.folder,
        task_a=a.task,
        task_b=b.task,
        plan=plan_changes(a.plan, b.plan),
        steps=tuple(compare_step(by_a.get(n), by_b.get(n)) for n in numbers),
    )
