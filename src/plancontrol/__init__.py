"""plancontrol: plan, review, then carry out the plan step by step, as a functional pipeline."""

from typing import TYPE_CHECKING

from plancontrol._version import __version__
from plancontrol.core.context import (
    Context,
    StepOutcome,
    TimingRow,
    UsageRow,
    decode_context,
    encode_context,
)
from plancontrol.core.errors import (
    Aborted,
    AttemptsExhausted,
    BudgetExceeded,
    Cancelled,
    Error,
    ExecutionFailure,
    InvalidDecision,
    InvalidPlan,
    InvalidReply,
    InvalidSettings,
    ModelFailure,
    PlanRejected,
    RestartOutOfRange,
    RoundsExhausted,
)
from plancontrol.core.events import Event
from plancontrol.core.ledger import Report, summarize
from plancontrol.core.phase import Halt, Phase, PhaseResult, halt
from plancontrol.core.pipeline import (
    CONTROL,
    PLANNING,
    PLANNING_AND_CONTROL,
    Pipeline,
    insert_after,
    one_shot,
    run_pipeline,
)
from plancontrol.core.plan import Plan, Review, Step, check_plan, plan_text
from plancontrol.core.ports import (
    Abort,
    ApprovalRequest,
    Approve,
    CallableApprover,
    Decision,
    Effects,
    Execution,
    Message,
    Reject,
    Reply,
    Request,
    Retry,
    Revise,
    Script,
    Skip,
    World,
)
from plancontrol.core.problem import Problem
from plancontrol.core.settings import Role, RoleModel, Settings, load_settings
from plancontrol.handlers.callbacks import AllSignals, CallbackEvents, CallbackSignals, FanOut

if TYPE_CHECKING:  # what __getattr__ imports on first use, seen by type checkers now
    from plancontrol.app.api import fork, replay, replay_many, report, resume, run
    from plancontrol.app.batch import batch
    from plancontrol.app.repeat import repeat
    from plancontrol.recording.wiring import Handlers

_ENTRY_POINTS = ("fork", "replay", "replay_many", "report", "resume", "run")
"""The library's entry points (``plancontrol.app.api``), imported when first used: they bring in
ag2, vcrpy and the rest, which ``import plancontrol`` alone does not."""


def __getattr__(name: str) -> object:
    if name in _ENTRY_POINTS:
        from plancontrol.app import api

        return getattr(api, name)
    if name == "batch":  # many tasks, each its own run (plancontrol.app.batch)
        from plancontrol.app.batch import batch

        return batch
    if name == "repeat":  # a step run again, to see how stable it is (plancontrol.app.repeat)
        from plancontrol.app.repeat import repeat

        return repeat
    if name == "Handlers":  # the handlers a caller brings to a recorded run
        from plancontrol.recording.wiring import Handlers

        return Handlers
    raise AttributeError(f"module 'plancontrol' has no attribute {name!r}")


__all__ = [
    "CONTROL",
    "PLANNING",
    "PLANNING_AND_CONTROL",
    "Abort",
    "Aborted",
    "AllSignals",
    "ApprovalRequest",
    "Approve",
    "AttemptsExhausted",
    "BudgetExceeded",
    "CallableApprover",
    "CallbackEvents",
    "CallbackSignals",
    "Cancelled",
    "Context",
    "Decision",
    "Effects",
    "Error",
    "Event",
    "Execution",
    "ExecutionFailure",
    "FanOut",
    "Halt",
    "Handlers",
    "InvalidDecision",
    "InvalidPlan",
    "InvalidReply",
    "InvalidSettings",
    "Message",
    "ModelFailure",
    "Phase",
    "PhaseResult",
    "Pipeline",
    "Plan",
    "PlanRejected",
    "Problem",
    "Reject",
    "Reply",
    "Report",
    "Request",
    "RestartOutOfRange",
    "Retry",
    "Review",
    "Revise",
    "Role",
    "RoleModel",
    "RoundsExhausted",
    "Script",
    "Settings",
    "Skip",
    "Step",
    "StepOutcome",
    "TimingRow",
    "UsageRow",
    "World",
    "__version__",
    "batch",
    "check_plan",
    "decode_context",
    "encode_context",
    "fork",
    "halt",
    "insert_after",
    "load_settings",
    "one_shot",
    "plan_text",
    "repeat",
    "replay",
    "replay_many",
    "report",
    "resume",
    "run",
    "run_pipeline",
    "summarize",
]
