"""Test doubles for every effect, so a user's tests drive any phase offline and without keys."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import msgspec
from returns.result import Failure, Result, Success

from plancontrol.core.context import Context
from plancontrol.core.errors import ExecutionFailure, ModelFailure
from plancontrol.core.events import Event, event_name
from plancontrol.core.ports import (
    ApprovalRequest,
    Approve,
    Decision,
    Effects,
    Execution,
    Reply,
    Request,
    Script,
)
from plancontrol.handlers.workspace import MemoryWorkspace
from plancontrol.recording.wiring import assemble
from plancontrol.servers.replies import Drop, Empty, Malformed, Slow, Status, ToolCall, ToolCalls
from plancontrol.servers.scripted import Exchange, OpenAITestServer, role_of

__all__ = [
    "Drop",
    "Empty",
    "Exchange",
    "FixedClock",
    "FunctionAgents",
    "Malformed",
    "MemoryCheckpoints",
    "MemoryWorkspace",
    "OpenAITestServer",
    "RecordingEvents",
    "ScriptedAgents",
    "ScriptedApprover",
    "ScriptedExecutor",
    "ScriptedSignals",
    "Slow",
    "Status",
    "ToolCall",
    "ToolCalls",
    "role_of",
    "scripted_effects",
]

Scripted = str | Reply | msgspec.Struct | Mapping[str, Any] | ModelFailure
"""What a double may answer: text, a full Reply, a Struct or dict (sent as JSON), or a failure."""


def _words(text: str) -> int:
    return len(text.split())


def _as_reply(
    answer: Scripted, request: Request, price_per_token: float | None
) -> Result[Reply, ModelFailure]:
    if isinstance(answer, ModelFailure):
        return Failure(answer)
    if isinstance(answer, Reply):
        return Success(answer)
    text = answer if isinstance(answer, str) else msgspec.json.encode(answer).decode()
    prompt = _words(request.system) + sum(_words(m.content) for m in request.messages)
    completion = _words(text)
    cost = None if price_per_token is None else (prompt + completion) * price_per_token
    return Success(
        Reply(
            text=text,
            model=request.model,
            prompt_tokens=prompt,
            completion_tokens=completion,
            cost_usd=cost,
        )
    )


class ScriptedAgents:
    """Answers each role from its own queue, in order; records every request.

    Token counts are word counts of the request and reply; ``price_per_token`` (dollars)
    gives each call a cost, else costs are unknown. A role with nothing left to say fails
    with a ModelFailure naming it.

    >>> agents = ScriptedAgents({"researcher": ["# Report"]})
    >>> from plancontrol.core.ports import Message
    >>> req = Request(role="researcher", model="m", phase="control", step=1, attempt=1,
    ...               system="Be brief", messages=(Message("user", "Write it"),))
    >>> agents.ask(req).unwrap().text, agents.ask(req).failure().detail
    ('# Report', 'the script for researcher has no reply left (1 used)')
    """

    def __init__(
        self, replies: Mapping[str, Iterable[Scripted]], price_per_token: float | None = None
    ) -> None:
        self._queues = {role: deque(answers) for role, answers in replies.items()}
        self._used: dict[str, int] = {}
        self.price_per_token = price_per_token
        self.requests: list[Request] = []

    def ask(self, request: Request) -> Result[Reply, ModelFailure]:
        self.requests.append(request)
        queue = self._queues.get(request.role)
        used = self._used.get(request.role, 0)
        if not queue:
            return Failure(
                ModelFailure(
                    role=request.role,
                    step=request.step,
                    detail=f"the script for {request.role} has no reply left ({used} used)",
                )
            )
        self._used[request.role] = used + 1
        return _as_reply(queue.popleft(), request, self.price_per_token)

    def requests_of(self, role: str) -> list[Request]:
        """The requests one role received, in order."""
        return [r for r in self.requests if r.role == role]

    @property
    def unused(self) -> dict[str, int]:
        """Replies left unplayed, per role (a test can assert this is empty)."""
        return {role: len(q) for role, q in self._queues.items() if q}


Answerer = Callable[[Request], Scripted]


class FunctionAgents:
    """Answers with ``fn(request)``, or with the function given for the request's role: for
    replies that depend on what was asked. A role with no function fails with ModelFailure.

    >>> from plancontrol.core.ports import Message
    >>> agents = FunctionAgents({"judge": lambda r: f"{len(r.messages)} message(s)"})
    >>> req = Request(role="judge", model="m", phase="control", step=1, attempt=1,
    ...               system="", messages=(Message("user", "hi"),))
    >>> agents.ask(req).unwrap().text
    '1 message(s)'
    """

    def __init__(
        self, fn: Answerer | Mapping[str, Answerer], price_per_token: float | None = None
    ) -> None:
        self.fn = fn
        self.price_per_token = price_per_token
        self.requests: list[Request] = []

    def ask(self, request: Request) -> Result[Reply, ModelFailure]:
        self.requests.append(request)
        answer = self.fn if callable(self.fn) else self.fn.get(request.role)
        if answer is None:
            return Failure(
                ModelFailure(
                    role=request.role,
                    step=request.step,
                    detail=f"no function answers for {request.role}",
                )
            )
        return _as_reply(answer(request), request, self.price_per_token)


class ScriptedExecutor:
    """Runs nothing: answers each script with the next scripted Execution, or ``fn(script)``.

    With no script at all every run exits 0. Records ``scripts`` and ``installs``.
    """

    def __init__(
        self, results: Iterable[Execution | ExecutionFailure] | Callable[[Script], Execution] = ()
    ) -> None:
        self._fn = results if callable(results) else None
        self._queue: deque[Execution | ExecutionFailure] = (
            deque() if callable(results) else deque(results)
        )
        self._scripted = not callable(results) and bool(self._queue)
        self.scripts: list[Script] = []
        self.installs: list[tuple[int, tuple[str, ...]]] = []

    def run(self, script: Script) -> Result[Execution, ExecutionFailure]:
        self.scripts.append(script)
        if self._fn is not None:
            return Success(self._fn(script))
        if not self._scripted:
            return Success(Execution(exit_code=0, stdout=f"ran {script.filename}"))
        if not self._queue:
            return Failure(
                ExecutionFailure(
                    step=script.step, detail="the scripted executor has no result left"
                )
            )
        result = self._queue.popleft()
        return Failure(result) if isinstance(result, ExecutionFailure) else Success(result)

    def install(self, step: int, packages: tuple[str, ...]) -> Result[Execution, ExecutionFailure]:
        self.installs.append((step, packages))
        return Success(Execution(exit_code=0, stdout=f"installed {' '.join(packages)}"))


class FixedClock:
    """A clock that starts at ``start`` and moves ``tick`` seconds each time it is read."""

    def __init__(self, start: float = 0.0, tick: float = 0.0) -> None:
        self.time = start
        self.tick = tick

    def now(self) -> float:
        current = self.time
        self.time += self.tick
        return current


class RecordingEvents:
    """Keeps every event in ``events``."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def emit(self, event: Event) -> None:
        self.events.append(event)

    def names(self) -> list[str]:
        """Event tags in order, e.g. ``["workflow_start", "phase_change", …]``."""
        return [event_name(e) for e in self.events]

    def of(self, kind: type[Event]) -> list[Any]:
        """The events of one type, in order."""
        return [e for e in self.events if isinstance(e, kind)]


class ScriptedApprover:
    """Answers approval requests (plan, step or error) from a list of decisions, then
    ``default`` (Approve unless given); records each request in ``requests``."""

    def __init__(self, decisions: Iterable[Decision] = (), default: Decision | None = None) -> None:
        self._queue = deque(decisions)
        self.default = default or Approve()
        self.requests: list[ApprovalRequest] = []

    def decide(self, request: ApprovalRequest) -> Decision:
        self.requests.append(request)
        return self._queue.popleft() if self._queue else self.default


class MemoryCheckpoints:
    """Keeps each snapshot: ``snapshots[label]`` is the context saved under that label."""

    def __init__(self) -> None:
        self.snapshots: dict[str, Context] = {}

    def save(self, label: str, ctx: Context) -> None:
        self.snapshots[label] = ctx


class ScriptedSignals:
    """Lets the run go on until the step ``cancel_before`` is about to start (0: cancels at
    the first planning phase, which checks with step 0); records each step checked."""

    def __init__(self, cancel_before: int | None = None) -> None:
        self.cancel_before = cancel_before
        self.checked: list[int] = []

    def should_continue(self, step: int) -> bool:
        self.checked.append(step)
        return self.cancel_before is None or step < self.cancel_before


def scripted_effects(
    replies: Mapping[str, Iterable[Scripted]] | None = None,
    **handlers: Any,
) -> Effects:
    """Every effect a double: ``ScriptedAgents(replies)`` and in-memory defaults, each
    replaceable by keyword (``executor=ScriptedExecutor([...])``, ``clock=…``)."""
    defaults: dict[str, Any] = {
        "agents": ScriptedAgents(replies or {}),
        "executor": ScriptedExecutor(),
        "workspace": MemoryWorkspace(),
        "events": RecordingEvents(),
        "approver": ScriptedApprover(),
        "clock": FixedClock(),
        "signals": ScriptedSignals(),
        "checkpoints": MemoryCheckpoints(),
    }
    unknown = set(handlers) - set(defaults)
    if unknown:
        raise TypeError(f"scripted_effects got unknown handler(s): {', '.join(sorted(unknown))}")
    return assemble(**{**defaults, **handlers})
