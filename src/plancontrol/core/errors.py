"""Expected failures as values: one union of tagged Structs saying where, what and how to fix."""

from __future__ import annotations

import msgspec

__all__ = [
    "Aborted",
    "AttemptsExhausted",
    "BudgetExceeded",
    "Cancelled",
    "Error",
    "ExecutionFailure",
    "InvalidDecision",
    "InvalidPlan",
    "InvalidReply",
    "InvalidSettings",
    "ModelFailure",
    "PlanRejected",
    "ReplayDiverged",
    "RestartOutOfRange",
    "RoundsExhausted",
]


class _Base(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    @property
    def message(self) -> str:  # pragma: no cover - every subclass overrides
        raise NotImplementedError


class InvalidSettings(_Base, frozen=True):
    """Settings that cannot run: a bad value, an unknown field, a role clash."""

    detail: str

    @property
    def message(self) -> str:
        return f"invalid settings: {self.detail}"


class InvalidPlan(_Base, frozen=True):
    """A plan that does not decode, is empty, exceeds the step cap or names an unknown agent."""

    where: str
    detail: str
    fix: str

    @property
    def message(self) -> str:
        return f"invalid plan at {self.where}: {self.detail}; {self.fix}"


class InvalidReply(_Base, frozen=True):
    """A structured reply still failing its schema after the allowed re-asks."""

    role: str
    step: int
    path: str
    detail: str
    asked: int

    @property
    def message(self) -> str:
        where = "planning" if self.step == 0 else f"step {self.step}"
        return (
            f"{self.role} ({where}) replied {self.asked} time(s) without matching its schema; "
            f"last problem at {self.path}: {self.detail}; raise max_reply_retries or use a "
            "model that follows JSON schemas"
        )


class PlanRejected(_Base, frozen=True):
    """The approver rejected the plan (or ran out of revisions)."""

    reason: str

    @property
    def message(self) -> str:
        return f"plan rejected: {self.reason}"


class AttemptsExhausted(_Base, frozen=True):
    """A code step failed ``max_n_attempts`` times; the workflow stops there."""

    step: int
    attempts: int
    last_problem: str

    @property
    def message(self) -> str:
        return (
            f"step {self.step} failed after {self.attempts} attempt(s); last problem: "
            f"{self.last_problem}; raise max_n_attempts or resume at step {self.step} "
            "with new instructions"
        )


class RoundsExhausted(_Base, frozen=True):
    """A phase or step used its whole round budget (max_rounds_planning / max_rounds_control)."""

    phase: str
    step: int
    limit: int

    @property
    def message(self) -> str:
        knob = "max_rounds_planning" if self.phase == "planning" else "max_rounds_control"
        where = "planning" if self.step == 0 else f"step {self.step}"
        return f"{where} was cut off after {self.limit} model call(s); raise {knob}"


class Cancelled(_Base, frozen=True):
    """The run was cancelled before ``step`` started (or planning, when step is 0)."""

    step: int
    reason: str = "cancelled by request"

    @property
    def message(self) -> str:
        where = "during planning" if self.step == 0 else f"before step {self.step}"
        return f"cancelled {where}: {self.reason}; resume to continue from there"


class Aborted(_Base, frozen=True):
    """The approver aborted the run: at the plan (step 0), before a step, or after it failed."""

    kind: str
    step: int
    reason: str = "aborted by the approver"

    @property
    def message(self) -> str:
        where = {
            "plan": "at the plan's approval",
            "step": f"before step {self.step}",
            "error": f"after step {self.step} failed",
        }.get(self.kind, f"at step {self.step}")
        return f"run aborted {where}: {self.reason}; resume to continue from there"


class InvalidDecision(_Base, frozen=True):
    """The approver answered with a decision that does not apply to what it was asked."""

    kind: str
    step: int
    decision: str
    allowed: tuple[str, ...]
    why: str = ""

    @property
    def message(self) -> str:
        asked = {"plan": "the plan", "step": f"step {self.step}"}.get(
            self.kind, f"the failure of step {self.step}"
        )
        because = f" ({self.why})" if self.why else ""
        return (
            f"the approver answered {self.decision!r} on {asked}, which it cannot take"
            f"{because}; answer one of: {', '.join(self.allowed)}"
        )


class ModelFailure(_Base, frozen=True):
    """A model call failed: transport error, refusal, exhausted script in a test double."""

    role: str
    step: int
    detail: str

    @property
    def message(self) -> str:
        where = "planning" if self.step == 0 else f"step {self.step}"
        return f"model call for {self.role} ({where}) failed: {self.detail}"


class ExecutionFailure(_Base, frozen=True):
    """Code could not be run at all (not: the code ran and failed, which is an attempt)."""

    step: int
    detail: str

    @property
    def message(self) -> str:
        return f"could not execute the code of step {self.step}: {self.detail}"


class BudgetExceeded(_Base, frozen=True):
    """The run's spend passed ``max_cost_usd``."""

    limit_usd: float
    spent_usd: float
    step: int

    @property
    def message(self) -> str:
        where = "planning" if self.step == 0 else f"step {self.step}"
        return (
            f"cost budget exceeded during {where}: spent ${self.spent_usd:.4f} of "
            f"${self.limit_usd:.4f}; raise max_cost_usd to continue"
        )


class RestartOutOfRange(_Base, frozen=True):
    """``restart_at_step`` points past the plan, or at a step whose predecessors did not finish."""

    step: int
    n_steps: int
    detail: str

    @property
    def message(self) -> str:
        return f"cannot restart at step {self.step}: {self.detail}"


class ReplayDiverged(_Base, frozen=True):
    """A replay asked for something its recording does not hold next: the code changed, or
    the recording is from another version; nothing live was asked instead."""

    entry: str
    """The journal entry that was next (``"none left"`` when it ran out)."""
    request: str
    """What the replayed run asked for."""

    @property
    def message(self) -> str:
        return (
            f"replay diverged from the recording: {self.request} was asked, the journal's next "
            f"entry is {self.entry}; re-record the run, or replay it with `rerun_code`"
        )


Error = (
    InvalidSettings
    | InvalidPlan
    | InvalidReply
    | PlanRejected
    | AttemptsExhausted
    | RoundsExhausted
    | Cancelled
    | Aborted
    | InvalidDecision
    | ModelFailure
    | ExecutionFailure
    | BudgetExceeded
    | RestartOutOfRange
    | ReplayDiverged
)
"""Every expected failure of a workflow."""
