"""The effect boundary: the only ways a phase reaches the world, small Protocols in one record."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

import msgspec
from returns.result import Failure, Result, Success

from plancontrol.core.errors import ExecutionFailure, InvalidDecision, ModelFailure
from plancontrol.core.plan import Plan
from plancontrol.core.settings import DECISIONS_FOR, ApprovalDefault, ApprovalKind

if TYPE_CHECKING:
    from plancontrol.core.context import Context
    from plancontrol.core.events import Event

__all__ = [
    "Abort",
    "Agents",
    "ApprovalRequest",
    "Approve",
    "Approver",
    "CallableApprover",
    "Checkpoints",
    "Clock",
    "Decision",
    "Effects",
    "EventSink",
    "Execution",
    "Executor",
    "Message",
    "NoCheckpoints",
    "Reject",
    "Reply",
    "Request",
    "Retry",
    "Revise",
    "Script",
    "Signals",
    "Skip",
    "Workspace",
    "World",
    "check_decision",
    "decision_name",
    "default_decision",
]


class Message(msgspec.Struct, frozen=True):
    """One turn of a conversation with a model."""

    role: Literal["user", "assistant"]
    content: str


class Request(msgspec.Struct, frozen=True, kw_only=True):
    """Everything an agent is asked: built by a pure prompt function, sent by ``Agents.ask``.

    ``schema`` is the JSON Schema the reply must satisfy (None for free text); the core
    validates the reply itself, so an adapter may use it for structured output or ignore it.
    """

    role: str
    model: str
    phase: str
    step: int
    attempt: int
    system: str
    messages: tuple[Message, ...]
    schema_name: str | None = None
    schema: dict[str, Any] | None = None


class Reply(msgspec.Struct, frozen=True, kw_only=True):
    """What a model answered, with the usage the provider reported for this one call."""

    text: str
    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None


class Script(msgspec.Struct, frozen=True, kw_only=True):
    """A script to save as ``filename`` in the work folder and run there."""

    step: int
    attempt: int
    filename: str
    code: str


class Execution(msgspec.Struct, frozen=True, kw_only=True):
    """How a script ran: the code's own failure is data here, not an error."""

    exit_code: int
    stdout: str = ""
    stderr: str = ""
    timed_out: bool = False
    files: tuple[str, ...] = ()


class ApprovalRequest(msgspec.Struct, frozen=True, kw_only=True):
    """What a human (or a scripted approver) is asked to decide on.

    ``kind`` is ``plan`` (the plan as drafted and reviewed), ``step`` (step ``step`` is about
    to start) or ``error`` (step ``step`` failed with ``error``; ``retries_left`` more runs
    of it may be asked for). ``choices`` names the decisions that answer it.
    """

    kind: ApprovalKind
    task: str
    plan: Plan
    step: int = 0
    error: str = ""
    retries_left: int = 0

    @property
    def choices(self) -> tuple[str, ...]:
        """Lower-case names of the decisions that may answer this request, e.g. ``approve``."""
        allowed = DECISIONS_FOR[self.kind]
        if self.kind == "error" and self.retries_left <= 0:
            return tuple(d for d in allowed if d not in ("retry", "revise"))
        return allowed


class Approve(msgspec.Struct, frozen=True, tag=True):
    """Go ahead as planned (a plan or a step)."""


class Reject(msgspec.Struct, frozen=True, tag=True):
    """Refuse: a rejected plan or step stops the workflow (``PlanRejected``); on a failed
    step, give up and let its error stop the run."""

    reason: str = "rejected by the approver"


class Revise(msgspec.Struct, frozen=True, tag=True):
    """Plan again with this feedback in the planner's next request (on a plan); run the step
    with it in the step agent's request (on a step, or on a failed step, which runs again)."""

    feedback: str


class Skip(msgspec.Struct, frozen=True, tag=True):
    """Do not run the step (or give up on the failed one): it is recorded as ``skipped`` and
    the run carries on with the next step."""

    reason: str = "skipped by the approver"


class Retry(msgspec.Struct, frozen=True, tag=True):
    """Run the failed step again from scratch."""


class Abort(msgspec.Struct, frozen=True, tag=True):
    """Stop the run now with an ``Aborted`` error; it can be resumed later."""

    reason: str = "aborted by the approver"


Decision = Approve | Reject | Revise | Skip | Retry | Abort
"""Every answer to an approval request; each is journaled and served back on replay."""


def decision_name(decision: Decision) -> str:
    """The decision's lower-case name, as in ``ApprovalRequest.choices``.

    >>> decision_name(Revise("use numpy")), decision_name(Abort())
    ('revise', 'abort')
    """
    return type(decision).__name__.lower()


def default_decision(name: ApprovalDefault, reason: str) -> Decision:
    """The decision called ``name`` (a settings value), carrying ``reason`` where it can.

    >>> default_decision("reject", "no answer within 30 s")
    Reject(reason='no answer within 30 s')
    """
    match name:
        case "approve":
            return Approve()
        case "reject":
            return Reject(reason)
        case "skip":
            return Skip(reason)
        case "retry":
            return Retry()
        case "abort":
            return Abort(reason)
    raise AssertionError(f"unknown decision {name!r}")  # pragma: no cover


def check_decision(
    request: ApprovalRequest, decision: Decision
) -> Result[Decision, InvalidDecision]:
    """``decision`` when it answers ``request`` (see ``request.choices``), else an error.

    >>> request = ApprovalRequest(kind="plan", task="t", plan=Plan(()))
    >>> error = check_decision(request, Skip()).failure()
    >>> error.decision, error.allowed
    ('skip', ('approve', 'reject', 'revise', 'abort'))
    """
    name = decision_name(decision)
    if name in request.choices:
        return Success(decision)
    why = ""
    if request.kind == "error" and name in DECISIONS_FOR["error"]:
        why = "no more runs of the step are allowed (max_step_retries)"
    return Failure(
        InvalidDecision(
            kind=request.kind,
            step=request.step,
            decision=name,
            allowed=request.choices,
            why=why,
        )
    )


class Agents(Protocol):
    """Asks the model behind a role; one call, one reply."""

    def ask(self, request: Request) -> Result[Reply, ModelFailure]: ...


class Executor(Protocol):
    """Saves and runs a script, reporting exit code, output and new files; installs packages."""

    def run(self, script: Script) -> Result[Execution, ExecutionFailure]: ...

    def install(
        self, step: int, packages: tuple[str, ...]
    ) -> Result[Execution, ExecutionFailure]: ...


class Workspace(Protocol):
    """The run's files: reports and other artifacts a step writes or reads."""

    def write(self, path: str, content: str) -> str: ...

    def read(self, path: str) -> str | None: ...


class EventSink(Protocol):
    """Receives the typed events of a run (progress, callbacks, logs)."""

    def emit(self, event: Event) -> None: ...


class Approver(Protocol):
    """Decides on a plan, a step or a failed step when the approval mode asks for it."""

    def decide(self, request: ApprovalRequest) -> Decision: ...


class CallableApprover:
    """Adapts any function ``fn(request) -> Decision`` to the Approver protocol.

    >>> approver = CallableApprover(lambda r: Approve() if r.kind == "plan" else Skip())
    >>> approver.decide(ApprovalRequest(kind="step", task="t", plan=Plan(()), step=2))
    Skip(reason='skipped by the approver')
    """

    def __init__(self, fn: Callable[[ApprovalRequest], Decision]) -> None:
        self.fn = fn

    def decide(self, request: ApprovalRequest) -> Decision:
        return self.fn(request)


class Clock(Protocol):
    """Tells the time, in seconds; the only source of time a phase sees."""

    def now(self) -> float: ...


class Checkpoints(Protocol):
    """Receives the context after each phase (``label`` = the phase's name) and after each
    plan step (``step-03``): where snapshots are written, or compared on replay."""

    def save(self, label: str, ctx: Context) -> None: ...


class NoCheckpoints:
    """Keeps no snapshots."""

    def save(self, label: str, ctx: Context) -> None:
        return None


class Signals(Protocol):
    """Checked before every step (and with step 0 before each planning phase): may block
    while paused; False means cancel at this safe point."""

    def should_continue(self, step: int) -> bool: ...


@dataclass(frozen=True, slots=True)
class World:
    """What a phase may reach: the agents, the executor, the approver and the workspace."""

    agents: Agents
    executor: Executor
    workspace: Workspace
    approver: Approver
    interpreter: str = ""
    """What runs the scripts (the Python version and its packages), told to the code roles."""


@dataclass(frozen=True, slots=True)
class Effects:
    """The handlers a run uses, picked once by the caller: phases see its ``world``; the
    runner alone uses the events, clock, signals and checkpoints."""

    agents: Agents
    executor: Executor
    workspace: Workspace
    events: EventSink
    approver: Approver
    clock: Clock
    signals: Signals
    checkpoints: Checkpoints = field(default_factory=NoCheckpoints)
    interpreter: str = ""
    """What runs the scripts (the Python version and its packages), told to the code roles;
    found once per run and kept in the run folder, so a replay tells them the same."""

    @property
    def world(self) -> World:
        """The part of the handlers a phase sees."""
        return World(self.agents, self.executor, self.workspace, self.approver, self.interpreter)
