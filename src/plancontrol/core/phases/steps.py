"""Carrying out one plan step: the engineer's write-run-judge-fix loop, or a text role's reply."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, TypeVar

import msgspec
from msgspec.structs import replace
from returns.result import Failure, Result, Success

from plancontrol.core.answers import Code, Install, Verdict
from plancontrol.core.asking import ask_text, ask_typed
from plancontrol.core.context import CodeStatus, Context, StepOutcome, StepStatus
from plancontrol.core.errors import AttemptsExhausted, Error, RoundsExhausted
from plancontrol.core.phase import Halt
from plancontrol.core.ports import Execution, Request, Script, World
from plancontrol.core.prompts import (
    engineer_request,
    installer_request,
    judge_request,
    retry_note,
    summary_for,
    text_step_request,
)
from plancontrol.core.settings import StepKind

__all__ = ["STEP_RUNNERS", "StepEnd", "StepRunner", "run_code_step", "run_text_step"]

T = TypeVar("T")


class StepEnd(NamedTuple):
    """How a step ended: the context after it, its outcome, and the error when it failed."""

    context: Context
    outcome: StepOutcome
    error: Error | None


StepRunner = Callable[[Context, World, int, str, str], StepEnd]
"""``(ctx, fx, step, role, feedback) -> StepEnd``: carries out one step, never raises."""


class _Budget(NamedTuple):
    step: int
    first_call: int
    limit: int

    def check(self, ctx: Context) -> Halt | None:
        if len(ctx.usage) - self.first_call >= self.limit:
            return Halt(RoundsExhausted(phase="control", step=self.step, limit=self.limit), ctx)
        return None


def _typed(
    ctx: Context, fx: World, budget: _Budget, request: Request, typ: type[T]
) -> Result[tuple[Context, T], Halt]:
    over = budget.check(ctx)
    return Failure(over) if over else ask_typed(ctx, fx, request, typ)


def _code_status(run: Execution) -> CodeStatus:
    if run.timed_out:
        return "timed_out"
    return "succeeded" if run.exit_code == 0 else "failed"


def _overruled(run: Execution, verdict: Verdict) -> Verdict:
    """The judge's verdict, unless it calls a script that timed out or exited with an error
    a success: the evidence wins, and the attempt failed.

    >>> verdict = _overruled(Execution(exit_code=3), Verdict("success", "saved"))
    >>> verdict.decision, verdict.fix_suggestion
    ('fix', 'make the script exit with code 0')
    >>> verdict.reason.startswith("the script exited with code 3, so the step is not done")
    True
    """
    if verdict.decision != "success" or _code_status(run) == "succeeded":
        return verdict
    if run.timed_out:
        ended, fix = "timed out", "make the script finish well within the time limit"
    else:
        ended, fix = f"exited with code {run.exit_code}", "make the script exit with code 0"
    reason = (
        f"the script {ended}, so the step is not done "
        f"(the judge's 'success' does not count: {verdict.reason.strip() or 'no reason given'})"
    )
    return Verdict("fix", reason, fix)


def run_code_step(ctx: Context, fx: World, step: int, role: str, feedback: str) -> StepEnd:
    """Engineer loop: write code, run it, let the judge decide; a failed attempt's output and
    the judge's fix suggestion reach the next attempt; stop after max_n_attempts. A script
    that timed out or exited non-zero is never the step's success, whatever the judge says."""
    budget = _Budget(step, len(ctx.usage), ctx.settings.max_rounds_control)
    previous = f"Feedback from the approver: {feedback}" if feedback else ""
    so_far = _SoFar(step, role)
    problem = ""
    attempts = ctx.settings.max_n_attempts
    for attempt in range(1, attempts + 1):
        match _write_and_run(ctx, fx, budget, attempt, previous, role):
            case Failure(h):
                return so_far.ended(h.context, attempt, h.error)
            case Success((ctx, code, run)):
                pass
        so_far = so_far.ran(run)
        match _typed(ctx, fx, budget, judge_request(ctx, step, attempt, code.code, run), Verdict):
            case Failure(h):
                return so_far.ended(h.context, attempt, h.error)
            case Success((ctx, judged)):
                verdict = _overruled(run, judged)
        if verdict.decision == "success":
            return so_far.ended(ctx, attempt, None, summary_for(code.code, run, verdict))
        problem = verdict.reason
        previous = retry_note(code.code, run, verdict)
        if verdict.decision == "install":
            match _install(ctx, fx, budget, attempt, verdict):
                case Failure(h):
                    return so_far.ended(h.context, attempt, h.error)
                case Success((ctx, note)):
                    previous += note
    return so_far.ended(
        ctx, attempts, AttemptsExhausted(step=step, attempts=attempts, last_problem=problem)
    )


def _script_name(step: int) -> str:
    return f"codebase/step_{step}.py"


class _SoFar(NamedTuple):
    """What a code step's attempts have come to: how its last script ran, the files made."""

    step: int
    role: str
    code_status: CodeStatus = "not_run"
    files: tuple[str, ...] = ()

    def ran(self, run: Execution) -> _SoFar:
        """With the script of another attempt run."""
        files = tuple(dict.fromkeys((*self.files, _script_name(self.step), *run.files)))
        return self._replace(code_status=_code_status(run), files=files)

    def ended(self, ctx: Context, attempts: int, error: Error | None, summary: str = "") -> StepEnd:
        """The step ended after ``attempts``, failed with ``error`` or done."""
        status: StepStatus = "failed" if error else "completed"
        outcome = StepOutcome(
            step=self.step,
            agent=self.role,
            status=status,
            code_status=self.code_status,
            attempts=attempts,
            summary=summary,
            files=self.files,
            error=error.message if error else "",
        )
        return StepEnd(ctx, outcome, error)


def _write_and_run(
    ctx: Context, fx: World, budget: _Budget, attempt: int, previous: str, role: str
) -> Result[tuple[Context, Code, Execution], Halt]:
    """The engineer's script for ``attempt``, and how it ran."""
    step = budget.step
    request = engineer_request(ctx, step, attempt, previous, role, fx.interpreter)
    match _typed(ctx, fx, budget, request, Code):
        case Failure(h):
            return Failure(h)
        case Success((asked, code)):
            pass
    script = Script(step=step, attempt=attempt, filename=_script_name(step), code=code.code)
    ran = fx.executor.run(script)
    return ran.map(lambda run: (asked, code, run)).alt(lambda error: Halt(error, asked))


def _install(
    ctx: Context, fx: World, budget: _Budget, attempt: int, verdict: Verdict
) -> Result[tuple[Context, str], Halt]:
    """The packages the installer picks for ``verdict``, installed; the note the next
    attempt is told of how that went."""
    request = installer_request(ctx, budget.step, attempt, verdict)
    match _typed(ctx, fx, budget, request, Install):
        case Failure(h):
            return Failure(h)
        case Success((asked, install)):
            pass
    match fx.executor.install(budget.step, install.packages):
        case Failure(error):
            return Failure(Halt(error, asked))
        case Success(done):
            outcome = "installed" if done.exit_code == 0 else "could not install"
            return Success(
                (asked, f"\n\n{outcome} {', '.join(install.packages)}: {done.stderr[-500:]}")
            )
    raise AssertionError("unreachable")  # pragma: no cover


def run_text_step(ctx: Context, fx: World, step: int, role: str, feedback: str) -> StepEnd:
    """A text role replies once; the reply is saved as the step's report and is its summary.
    A role with a ``reply_schema`` replies with a JSON object (re-asked when it is not one)."""
    budget = _Budget(step, len(ctx.usage), ctx.settings.max_rounds_control)
    request = text_step_request(ctx, step, role, feedback)
    entry = ctx.settings.role(role)
    schema = entry.schema if entry else None
    over = budget.check(ctx)
    result: Result[tuple[Context, str], Halt]
    if over:
        result = Failure(over)
    elif schema is None:
        result = ask_text(ctx, fx, request).map(lambda done: (done[0], done[1].text))
    else:
        request = replace(request, schema_name=role, schema=schema)
        result = ask_typed(ctx, fx, request, dict[str, Any]).map(
            lambda done: (done[0], msgspec.json.format(msgspec.json.encode(done[1])).decode())
        )
    match result:
        case Failure(h):
            outcome = StepOutcome(
                step=step, agent=role, status="failed", attempts=1, error=h.error.message
            )
            return StepEnd(h.context, outcome, h.error)
        case Success((ctx, text)):
            pass
    if schema is not None:
        name = f"{role}.json"
    else:
        name = ctx.settings.researcher_filename if role == "researcher" else f"{role}.md"
    path = fx.workspace.write(f"reports/step_{step}_{name}", text)
    outcome = StepOutcome(
        step=step, agent=role, status="completed", attempts=1, summary=text, files=(path,)
    )
    return StepEnd(ctx, outcome, None)


STEP_RUNNERS: Mapping[StepKind, StepRunner] = {"code": run_code_step, "text": run_text_step}
"""How each kind of role carries out a step; the roster gives each role its kind."""
