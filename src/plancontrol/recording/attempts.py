"""One step's attempts read back from its run folder by a replay of the step; writes nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from returns.result import Failure, Result, Success

from plancontrol.core.answers import verdict_of
from plancontrol.core.errors import ExecutionFailure
from plancontrol.core.events import AgentReplied, Event
from plancontrol.core.ports import Execution, Script
from plancontrol.core.problem import Problem

__all__ = ["Attempt", "StepRecord", "attempts_text", "step_record"]

TAIL_LINES = 20
"""How many of its last lines of output ``attempts_text`` shows per attempt."""


@dataclass
class Attempt:
    """One run of a step's script: its code, how it ended, and the judge's verdict."""

    number: int
    filename: str
    code: str
    exit_code: int | None
    """None when the script could not be run at all (``failure`` says why)."""
    timed_out: bool = False
    output: str = ""
    failure: str = ""
    decision: str = ""
    """The judge's decision (success, fix or install); empty when it was not asked."""
    reason: str = ""


@dataclass
class StepRecord:
    """What a replay of one step saw: its attempts (a code step), or its reply (a text step)."""

    step: int
    heading: str = ""
    """The step's goal, agent and how it ended."""
    attempts: list[Attempt] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)

    def emit(self, event: Event) -> None:
        """Note a judge's verdict on the last attempt, or a text role's reply."""
        if not isinstance(event, AgentReplied) or event.step != self.step:
            return
        if event.role == "judge" and self.attempts:
            verdict = verdict_of(event.text)
            if verdict is not None:
                self.attempts[-1].decision = verdict.decision
                self.attempts[-1].reason = verdict.reason
        elif event.role not in ("engineer", "judge", "installer") and not self.attempts:
            self.replies.append(event.text)

    def ran(self, script: Script, result: Result[Execution, ExecutionFailure]) -> None:
        """Note a script the step ran, with the result recorded for it."""
        if script.step != self.step:
            return
        attempt = Attempt(script.attempt, script.filename, script.code, None)
        match result:
            case Success(run):
                attempt.exit_code, attempt.timed_out = run.exit_code, run.timed_out
                attempt.output = "\n".join(p for p in (run.stdout, run.stderr) if p.strip())
            case Failure(error):
                attempt.failure = error.detail
        self.attempts.append(attempt)


def step_record(run_dir: Path, step: int) -> Result[StepRecord, Problem]:
    """Replay step ``step`` of the run in ``run_dir`` (recorded replies served even where the
    prompts changed since) and keep what each attempt did; a one-line Failure when the step
    was never recorded."""
    from plancontrol.recording.replay import replay_part
    from plancontrol.runs.state import run_state

    match run_state(run_dir):
        case Failure(problem):
            return Failure(problem)
        case Success(state):
            ctx = state.context
    if ctx.plan is None:
        return Failure(Problem(what=f"{run_dir} has no plan yet, so no step has run"))
    if not 1 <= step <= ctx.plan.n_steps:
        n = ctx.plan.n_steps
        return Failure(
            Problem(
                what=f"{run_dir} has {n} step(s)", where="step", fix=f"pick a step from 1 to {n}"
            )
        )
    outcome = ctx.outcome(step)
    if outcome is None:
        return Failure(Problem(what=f"step {step} of {run_dir} has not run yet", where="step"))
    goal = ctx.plan.step(step).sub_task
    heading = f"step {step} ({outcome.agent}): {goal}\n{outcome.status} after "
    record = StepRecord(step, heading + f"{outcome.attempts} attempt(s)")
    replayed = replay_part(run_dir, str(step), record, lenient=True, on_script=record.ran)
    return replayed.map(lambda _: record)


def _indented(text: str, limit: int | None = None) -> list[str]:
    lines = text.rstrip("\n").splitlines() or ["(nothing)"]
    cut = limit is not None and len(lines) > limit
    shown = lines[-limit:] if limit is not None and cut else lines
    return [*(["    …"] if cut else []), *(f"    {line}".rstrip() for line in shown)]


def attempts_text(record: StepRecord) -> str:
    """The record as ``plancontrol show RUN --step K`` prints it: per attempt, the code, the
    exit code, the output's last lines and the judge's verdict with its reason.

    >>> done = Attempt(1, "codebase/step_1.py", "print(1)", 0, output="1", decision="success",
    ...                reason="it printed 1")
    >>> record = StepRecord(1, attempts=[done])
    >>> print(attempts_text(record))
    attempt 1: codebase/step_1.py, exit code 0
      code:
        print(1)
      output (last 20 lines):
        1
      judge: success: it printed 1
    """
    lines = [record.heading] if record.heading else []
    if not record.attempts:
        lines.append("it runs no code; its reply:")
        for reply in record.replies:
            lines += _indented(reply)
        return "\n".join(lines)
    for a in record.attempts:
        ended = "timed out" if a.timed_out else f"exit code {a.exit_code}"
        if a.exit_code is None:
            ended = f"could not run: {a.failure}"
        lines.append(f"attempt {a.number}: {a.filename}, {ended}")
        lines += ["  code:", *_indented(a.code)]
        lines.append(f"  output (last {TAIL_LINES} lines):")
        lines += _indented(a.output, TAIL_LINES)
        judged = f"{a.decision}: {a.reason}" if a.decision else "not asked"
        lines.append(f"  judge: {judged}")
    return "\n".join(lines)
