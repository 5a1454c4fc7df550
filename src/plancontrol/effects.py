"""The effect boundary: the only ways a phase reaches the world, small Protocols in one record."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

import msgspec
from returns.result import Result

from plancontrol.errors import ExecutionFailure, ModelFailure
from plancontrol.plan import Plan

if TYPE_CHECKING:
    from plancontrol.context import Context
    from plancontrol.events import Event

__all__ = [
    "Agents",
    "ApprovalRequest",
    "Approve",
    "Approver",
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
    "Revise",
    "Script",
    "Signals",
    "Workspace",
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
    """What a human (or a scripted approver) is asked to decide on."""

    kind: Literal["plan", "step"]
    task: str
    plan: Plan
    step: int = 0


class Approve(msgspec.Struct, frozen=True, tag=True):
    """Go ahead as planned."""


class Reject(msgspec.Struct, frozen=True, tag=True):
    """Stop the workflow."""

    reason: str = "rejected by the approver"


class Revise(msgspec.Struct, frozen=True, tag=True):
    """Plan again, with this feedback in the planner's next request."""

    feedback: str


Decision = Approve | Reject | Revise


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
    """Decides on a plan or a step when the approval mode asks for it."""

    def decide(self, request: ApprovalRequest) -> Decision: ...


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
    """Checked before every step: may block while paused; False means cancel."""

    def should_continue(self, step: int) -> bool: ...


@dataclass(frozen=True, slots=True)
class Effects:
    """The handlers a run uses, picked once by the caller and passed to every phase."""

    agents: Agents
    executor: Executor
    workspace: Workspace
    events: EventSink
    approver: Approver
    clock: Clock
    signals: Signals
    checkpoints: Checkpoints = field(default_factory=NoCheckpoints)
