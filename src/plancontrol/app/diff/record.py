"""One run folder read for comparing, step by step: requests, code, outputs, files, cost, time."""

# A step is the one the run's newest session recorded: a fork's copied first session ends
# after the fork point (session.json's ends_after), so its later steps are the fork's own.
# Step 0 is planning (the plan and review cassettes, no code).

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import msgspec
from returns.result import Failure, Result, Success

from plancontrol.core.context import Context
from plancontrol.core.ledger import summarize
from plancontrol.core.plan import Step
from plancontrol.core.problem import Problem
from plancontrol.recording.message_store import DamagedCassette, read_cassette
from plancontrol.runs.entries import Entry, Ran, Saved
from plancontrol.runs.folder import Session, session_dir
from plancontrol.runs.journal import read_session_journal

__all__ = ["Attempt", "Request", "RunRecord", "StepRecord", "load_run", "role_of"]

_ROLE = re.compile(r"You are the (\w+)")
_PLANNING = ("plan", "review")


class Request(msgspec.Struct, frozen=True, kw_only=True):
    """One model request: who asked (role, its n-th request in the step) and its body."""

    role: str
    attempt: int
    sha256: str
    body: str  # canonical JSON: keys sorted


class Attempt(msgspec.Struct, frozen=True, kw_only=True):
    """One script run of a step: its code and what it printed."""

    attempt: int
    code: str
    exit_code: int | None
    timed_out: bool
    stdout: str
    stderr: str
    failure: str


class StepRecord(msgspec.Struct, frozen=True, kw_only=True):
    """What a run holds for one step (0: planning)."""

    step: int
    agent: str
    status: str
    requests: tuple[Request, ...]
    attempts: tuple[Attempt, ...]
    summary: str
    files: tuple[tuple[str, str], ...]  # (name, sha256 or "missing")
    tokens: int
    cost_usd: float | None
    seconds: float


class RunRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A run folder, read: its task, plan and each step."""

    folder: str
    task: str
    plan: tuple[Step, ...]
    steps: tuple[StepRecord, ...]


def role_of(body: Any) -> str:
    """NAME when the first system message starts "You are the NAME", else the model.

    >>> role_of({"model": "m", "messages": [{"role": "system", "content": "You are the judge."}]})
    'judge'
    >>> role_of({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    'm'
    """
    messages = body.get("messages", []) if isinstance(body, dict) else []
    for message in messages:
        if isinstance(message, dict) and message.get("role") in ("system", "developer"):
            found = _ROLE.match(str(message.get("content", "")).lstrip())
            return found.group(1) if found else str(body.get("model", ""))
    return str(body.get("model", "")) if isinstance(body, dict) else ""


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _label(step: int) -> str:
    return f"step-{step:02d}"


class _Sessions:
    """The run's sessions with their journals, newest last; which one recorded what."""

    def __init__(self, folder: Path, sessions: tuple[Session, ...], journals: tuple[Any, ...]):
        self.folder = folder
        self.sessions = sessions
        self.journals: tuple[tuple[Entry, ...], ...] = journals

    def _owned(self, index: int) -> list[str]:
        labels = [e.label for e in self.journals[index] if isinstance(e, Saved)]
        ends = self.sessions[index].ends_after
        return labels[: labels.index(ends) + 1] if ends in labels else labels

    def owner(self, label: str, step: int) -> int | None:
        """The newest session that saved ``label``, else the newest that recorded it."""
        for index in reversed(range(len(self.sessions))):
            if label in self._owned(index):
                return index
        for index in reversed(range(len(self.sessions))):
            if self._cassette(index, label).is_file() or self._ran(index, step):
                return index
        return None

    def _cassette(self, index: int, label: str) -> Path:
        number = self.sessions[index].number
        return session_dir(self.folder, number) / "cassettes" / f"{label}.json"

    def _ran(self, index: int, step: int) -> tuple[Ran, ...]:
        return tuple(e for e in self.journals[index] if isinstance(e, Ran) and e.step == step)

    def bodies(self, label: str, step: int) -> list[Any]:
        index = self.owner(label, step)
        if index is None or not self._cassette(index, label).is_file():
            return []
        cassette = read_cassette(self._cassette(index, label))
        return [_body(i["request"].get("body")) for i in cassette.get("interactions", [])]

    def ran(self, step: int) -> tuple[Ran, ...]:
        index = self.owner(_label(step), step)
        return () if index is None else self._ran(index, step)


def _body(body: Any) -> Any:
    if isinstance(body, dict) and "json" in body:
        return body["json"]
    return body.get("text", body) if isinstance(body, dict) else body


def _requests(bodies: list[Any]) -> tuple[Request, ...]:
    """Each body as a Request, numbered per role in the order sent."""
    counts: dict[str, int] = {}
    found = []
    for body in bodies:
        role = role_of(body)
        counts[role] = counts.get(role, 0) + 1
        text = json.dumps(body, sort_keys=True, ensure_ascii=False, indent=1)
        found.append(
            Request(role=role, attempt=counts[role], sha256=_sha(text.encode()), body=text)
        )
    return tuple(found)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _attempt(folder: Path, ran: Ran) -> Attempt:
    code_file = Path(ran.filename)
    code = _read(
        folder / "work" / code_file.with_name(f"{code_file.stem}_attempt_{ran.attempt}.py")
    )
    result = ran.result
    return Attempt(
        attempt=ran.attempt,
        code=code,
        exit_code=None if result is None else result.exit_code,
        timed_out=False if result is None else result.timed_out,
        stdout="" if result is None else result.stdout,
        stderr="" if result is None else result.stderr,
        failure=ran.failure,
    )


def _file_hash(folder: Path, name: str) -> str:
    for path in (folder / "work" / name, folder / name):
        if path.is_file():
            return _sha(path.read_bytes())
    return "missing"


def _files(folder: Path, names: list[str]) -> tuple[tuple[str, str], ...]:
    unique = sorted(set(names))
    return tuple((name, _file_hash(folder, name)) for name in unique)


def _step(folder: Path, ctx: Context, found: _Sessions, step: int) -> StepRecord:
    """Step ``step`` (1-based) as the run recorded it."""
    steps = ctx.plan.steps if ctx.plan is not None else ()
    outcome = ctx.outcome(step)
    ran = found.ran(step)
    produced = [name for r in ran if r.result is not None for name in r.result.files]
    usage = {t.key: t for t in summarize(ctx).by_step}.get(f"step {step}")
    return StepRecord(
        step=step,
        agent=outcome.agent if outcome else steps[step - 1].agent,
        status=outcome.status if outcome else "not run",
        requests=_requests(found.bodies(_label(step), step)),
        attempts=tuple(_attempt(folder, r) for r in ran),
        summary=outcome.summary if outcome else "",
        files=_files(folder, [*(outcome.files if outcome else ()), *produced]),
        tokens=usage.tokens if usage else 0,
        cost_usd=usage.cost_usd if usage else 0.0,
        seconds=sum(t.seconds for t in ctx.timings if t.phase == "control" and t.step == step),
    )


def _planning(ctx: Context, found: _Sessions) -> StepRecord:
    usage = {t.key: t for t in summarize(ctx).by_step}.get("planning")
    bodies = [body for label in _PLANNING for body in found.bodies(label, 0)]
    return StepRecord(
        step=0,
        agent="planner",
        status="planned" if ctx.plan is not None else "not planned",
        requests=_requests(bodies),
        attempts=(),
        summary="",
        files=(),
        tokens=usage.tokens if usage else 0,
        cost_usd=usage.cost_usd if usage else 0.0,
        seconds=sum(t.seconds for t in ctx.timings if t.step == 0 and t.phase != "control"),
    )


def load_run(folder: Path) -> Result[RunRecord, Problem]:
    """The run in ``folder`` read for comparing, or a one-line Problem (not a run folder, a
    damaged journal or context)."""
    from plancontrol.runs.state import run_state

    match run_state(folder):
        case Failure(problem):
            return Failure(problem)
        case Success(state):
            pass
    journals = []
    for session in state.sessions:
        match read_session_journal(folder, session):
            case Failure(problem):
                return Failure(problem)
            case Success(entries):
                journals.append(entries)
    found = _Sessions(folder, state.sessions, tuple(journals))
    ctx = state.context
    plan = ctx.plan.steps if ctx.plan is not None else ()
    try:
        steps = (
            _planning(ctx, found),
            *(_step(folder, ctx, found, n) for n in range(1, len(plan) + 1)),
        )
    except DamagedCassette as exc:  # a message a cassette refers to is gone or edited
        return Failure(Problem(what=str(exc), where=str(folder)))
    return Success(RunRecord(folder=str(folder), task=ctx.task, plan=plan, steps=steps))
