"""Step K of a recorded run again N times, each a fork stopped after it; how stable it is."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec
from returns.result import Failure, Result, Success

from plancontrol.app.batch import ModelOptions, _stop_now
from plancontrol.app.repeat_summary import (
    Asked,
    FileHash,
    RepeatSummary,
    StepRun,
    summarize_repeat,
)
from plancontrol.core.context import Context, StepOutcome, decode_context
from plancontrol.core.ledger import known_cost, total_cost
from plancontrol.core.problem import Problem
from plancontrol.handlers.files import write_atomic

if TYPE_CHECKING:
    from plancontrol.runs.resume import StartPoint

__all__ = ["ModelOptions", "default_into", "folder_name", "original_step", "repeat", "step_run"]

INTERRUPTED = 130
"""The exit status of a fork stopped by Ctrl-C (or SIGINT): its row's outcome is interrupted."""

_FIX_RUN = "give the folder of a run that `plancontrol run` recorded"


def default_into(run_dir: Path, step: int) -> Path:
    """Where the repetitions go unless told: beside the run, named after it and the step.

    >>> default_into(Path("runs/primes"), 2).as_posix()
    'runs/primes-repeat-step-2'
    >>> default_into(Path("."), 2) == Path.cwd().with_name(f"{Path.cwd().name}-repeat-step-2")
    True
    """
    named = run_dir if run_dir.name else run_dir.resolve()  # "." has no name of its own
    return named.with_name(f"{named.name}-repeat-step-{step}")


def folder_name(number: int, times: int) -> str:
    """The folder of repetition ``number`` of ``times``: two digits or more, so they sort.

    >>> folder_name(3, 5), folder_name(7, 120)
    ('03', '007')
    """
    return f"{number:0{max(2, len(str(times)))}d}"


def repeat(
    run_dir: str | os.PathLike[str],
    *,
    step: int,
    times: int,
    workers: int = 1,
    into: str | os.PathLike[str] | None = None,
    options: ModelOptions | None = None,
    sets: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    on_done: Callable[[StepRun], None] | None = None,
) -> Result[RepeatSummary, Problem]:
    """Run step ``step`` of the run in ``run_dir`` again ``times`` times, ``workers`` at a
    time, each as a fork of its own (``into/01``, ``into/02``...; by default ``into`` is
    ``default_into``) that starts at the step, with the steps before it served from the
    recording, and stops once the step is settled. The forks run on the models the run
    recorded, unless ``options`` (and ``sets``, ``KEY=VALUE`` as ``fork`` takes them)
    change them; they ask nobody to approve. ``on_done`` hears of each repetition as it ends.

    The summary (also written to ``into/repeat.json``) holds each repetition's outcome,
    attempts, cost, time and the sha256 of each file the step produced, and what they add up
    to. A Failure, with nothing run, for a folder that is no run, a step the plan does not
    have or whose earlier steps did not complete, ``times`` or ``workers`` below 1, an
    ``into`` that holds files, or models that cannot be reached."""
    folder = Path(run_dir)
    target = default_into(folder, step) if into is None else Path(into)
    chosen = options or ModelOptions()
    match _checked(folder, step, times, workers, target).bind(
        lambda point: _models_checked(point, step, chosen, _unattended(point, sets), env)
    ):
        case Failure(problem):
            return Failure(problem)
        case Success(point):
            pass
    target.mkdir(parents=True, exist_ok=True)
    asked = Asked(run_dir=str(folder), step=step, times=times, workers=workers, into=str(target))
    job = _Job(asked, point.context, chosen, _unattended(point, sets), on_done)
    return Success(job.run())


def _checked(
    folder: Path, step: int, times: int, workers: int, into: Path
) -> Result[StartPoint, Problem]:
    """Where the forks start (after step ``step - 1``), every argument checked first."""
    from plancontrol.runs.lock import holder, in_use
    from plancontrol.runs.resume import start_point

    for name, value in (("times", times), ("workers", workers)):
        if value < 1:
            what = f"`{name}` must be at least 1, got {value}"
            return Failure(Problem(what=what, where=name, fix="give 1 or more"))
    if not (folder / "manifest.json").is_file():
        what = f"{folder} is not a run folder (it holds no manifest.json)"
        return Failure(Problem(what=what, where=str(folder), fix=_FIX_RUN))
    if (writer := holder(folder)) is not None:
        return Failure(in_use(folder, writer))
    if (steps := _n_steps(folder)) is not None and not 1 <= step <= steps:
        what = f"`step={step}` is not a step of the plan in {folder}: it has {steps} step(s)"
        return Failure(Problem(what=what, where="step", fix=f"pick a step from 1 to {steps}"))
    if into.exists() and (not into.is_dir() or any(into.iterdir())):
        what = f"{into} already holds files (an earlier repeat?)"
        return Failure(Problem(what=what, where=str(into), fix="give `into` a new folder"))
    return start_point(folder, step)


def _n_steps(folder: Path) -> int | None:
    """The number of steps of the run's plan as it last stood (None: no plan there yet)."""
    last = _context(folder)
    return None if last is None or last.plan is None else last.plan.n_steps


def _context(folder: Path) -> Context | None:
    """The last context a run (or fork) in ``folder`` wrote, if any."""
    try:
        data = (folder / "context.json").read_bytes()
    except OSError:
        return None
    return decode_context(data).value_or(None)


def _unattended(point: StartPoint, sets: Sequence[str]) -> tuple[str, ...]:
    """``sets``, with approvals turned off when the run asked for them: nobody is there to
    answer a repetition."""
    if point.context.settings.approval == "none":
        return tuple(sets)
    return (*sets, "settings.approval=none")


def _models_checked(
    point: StartPoint,
    step: int,
    options: ModelOptions,
    sets: tuple[str, ...],
    env: Mapping[str, str] | None,
) -> Result[StartPoint, Problem]:
    """``point``, once the models and settings the forks go on with are known to work."""
    from plancontrol.app.changes import Changes
    from plancontrol.app.going import going_on
    from plancontrol.app.routing import parse_role_models

    match parse_role_models(options.role_models):
        case Failure(problem):
            return Failure(problem)
        case Success(roles):
            pass
    given = msgspec.structs.asdict(options) | {"role_models": roles, "sets": sets}
    try:  # typed once, here: a bad value is refused before any fork starts
        changes = msgspec.convert(given, Changes)
    except msgspec.ValidationError as exc:
        what = f"the model options cannot be used: {exc}"
        fix = "give a value `plancontrol repeat --help` lists"
        return Failure(Problem(what=what, where="options", fix=fix))
    if changes.max_tokens is not None and changes.max_tokens < 1:
        what = f"the most tokens per reply must be above 0, got {changes.max_tokens}"
        return Failure(Problem(what=what, where="options", fix="give 1 or more, or leave it out"))
    return going_on(point, changes, step, None, env).map(lambda _: point)


class _Job:
    """One repeat: its repetitions run as processes, their rows gathered, repeat.json kept."""

    def __init__(
        self,
        asked: Asked,
        start: Context,
        options: ModelOptions,
        sets: tuple[str, ...],
        on_done: Callable[[StepRun], None] | None,
    ) -> None:
        self.asked, self.start, self.options, self.sets = asked, start, options, sets
        self.on_done = on_done
        self.original = original_step(Path(asked.run_dir), asked.step)
        self.rows: dict[int, StepRun] = {}
        self.lock = threading.Lock()
        self.started = time.monotonic()
        self.children: list[subprocess.Popen[str]] = []
        self.stopping = False

    def run(self) -> RepeatSummary:
        """Every repetition through a pool of ``workers`` threads, each waiting on a process."""
        with ThreadPoolExecutor(max_workers=self.asked.workers) as pool:
            try:
                list(pool.map(self.one, range(1, self.asked.times + 1)))
            except KeyboardInterrupt:  # the forks going stop at once (resumable), no new one
                with self.lock:
                    self.stopping = True
                pool.shutdown(wait=False, cancel_futures=True)
                _stop_now(self.children)
                raise
        return self.save()

    def one(self, number: int) -> None:
        """Run repetition ``number`` (unless the repeat is stopping); keep its row."""
        folder = Path(self.asked.into) / folder_name(number, self.asked.times)
        started = time.monotonic()
        with self.lock:
            if self.stopping:
                return
            child = subprocess.Popen(
                self.argv(folder), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True,
            )  # fmt: skip
            self.children.append(child)
        stdout, stderr = child.communicate()
        row = self.row(number, folder, child.returncode, _ended(stdout, stderr))
        row = msgspec.structs.replace(row, seconds=row.seconds or time.monotonic() - started)
        with self.lock:
            self.rows[number] = row
            self.save()
        if self.on_done is not None:
            self.on_done(row)

    def row(self, number: int, folder: Path, code: int, ended: tuple[str | None, str]) -> StepRun:
        """Repetition ``number``'s row, from its folder and how its process ended."""
        made = _context(folder)
        if made is None:  # refused or crashed before the fork recorded anything
            why = ended[1] or f"the fork exited with code {code}"
            outcome = "interrupted" if code == INTERRUPTED else "error"
            return StepRun(
                number=number, run_dir=str(folder), outcome=outcome, status="error", error=why,
                exit_code=code,
            )  # fmt: skip
        row = step_run(number, folder, made, self.start, self.asked.step, ended)
        return msgspec.structs.replace(row, exit_code=code)

    def argv(self, folder: Path) -> list[str]:
        """The ``plancontrol fork`` process of one repetition."""
        k = str(self.asked.step)
        sets = [item for value in self.sets for item in ("--set", value)]
        flags = ["--from-step", k, "--stop-after-step", k, "--into", str(folder), *sets]
        head = [sys.executable, "-m", "plancontrol", "fork", "--json", "--quiet"]
        return [*head, *flags, *self.options.flags(), "--", self.asked.run_dir]

    def save(self) -> RepeatSummary:
        """The summary so far, written atomically to ``repeat.json``."""
        rows = [self.rows[n] for n in sorted(self.rows)]
        seconds = time.monotonic() - self.started
        summary = summarize_repeat(self.asked, self.original, rows, seconds)
        document = msgspec.json.format(msgspec.json.encode(summary)) + b"\n"
        write_atomic(Path(self.asked.into) / "repeat.json", document)
        return summary


def _ended(stdout: str, stderr: str) -> tuple[str | None, str]:
    """How a fork process said it ended: the kind of error it stopped with (None: it
    completed) and its message; ``error`` when it printed no run document."""
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    try:
        document = json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        document = {}
    if document.get("type") == "run":
        error = document.get("error") or {}
        return error.get("kind"), error.get("message", "")
    said = [line for line in stderr.splitlines() if line.strip()]
    return "error", said[-1].removeprefix("plancontrol: ") if said else ""


def _hashes(folder: Path, ctx: Context, outcome: StepOutcome) -> tuple[FileHash, ...]:
    """The files ``outcome`` lists, found in ``folder``, with their sha256."""
    from msgspec.structs import replace

    from plancontrol.recording.files import EXPORTS, written

    made = written(folder, replace(ctx, outcomes=(outcome,)))
    return tuple(FileHash(path=w.path, sha256=w.sha256) for w in made if w.path not in EXPORTS)


def _label(outcome: StepOutcome | None, kind: str | None) -> tuple[str, str]:
    """A repetition's outcome and status: the step's status, a failure named by the kind of
    error the fork stopped with, ``error`` when the step recorded no outcome at all."""
    if outcome is not None and outcome.status != "failed":
        return outcome.status, outcome.status
    if kind in (None, "error", "cancelled"):
        return ("failed", "failed") if outcome is not None else ("error", "error")
    return str(kind), "failed"


def _measured(
    number: int, folder: Path, ctx: Context, step: int, since: Context | None
) -> tuple[StepRun, StepOutcome | None]:
    """The step's figures in the run ``ctx`` left in ``folder``: what it did after ``since``
    (its start), or (None) the step's latest run; and the step's outcome there."""
    rows = ctx.usage[len(since.usage) :] if since else ctx.usage
    ours = [row for row in rows if row.step == step]
    timed = ctx.timings[len(since.timings) :] if since else ctx.timings
    spans = [span.seconds for span in timed if span.step == step]
    outcomes = ctx.outcomes[len(since.outcomes) :] if since else ctx.outcomes
    outcome = next((o for o in reversed(outcomes) if o.step == step), None)
    figures = StepRun(
        number=number,
        run_dir=str(folder),
        outcome="",
        status="",
        error="" if outcome is None else outcome.error,
        attempts=0 if outcome is None else outcome.attempts,
        calls=len(ours),
        prompt_tokens=sum(row.prompt_tokens for row in ours),
        completion_tokens=sum(row.completion_tokens for row in ours),
        cost_usd=total_cost(ours),
        seconds=sum(spans) if since or not spans else spans[-1],
        files=() if outcome is None else _hashes(folder, ctx, outcome),
        prefix_calls=len(rows) - len(ours),
        prefix_cost_usd=known_cost(row for row in rows if row.step != step),
    )
    return figures, outcome


def step_run(
    number: int,
    folder: Path,
    made: Context,
    start: Context,
    step: int,
    ended: tuple[str | None, str],
) -> StepRun:
    """Repetition ``number`` in ``folder``: what the fork's last context ``made`` (begun from
    ``start``) holds of step ``step``, and how its process ``ended`` (kind, message)."""
    figures, outcome = _measured(number, folder, made, step, start)
    label, status = _label(outcome, ended[0])
    error = figures.error or ("" if status == "completed" else ended[1])
    return msgspec.structs.replace(figures, outcome=label, status=status, error=error)


def original_step(folder: Path, step: int) -> StepRun:
    """The step as the original run last left it (number 0)."""
    last = _context(folder)
    if last is None or not any(o.step == step for o in last.outcomes):
        return StepRun(number=0, run_dir=str(folder), outcome="error", status="error")
    figures, outcome = _measured(0, folder, last, step, None)
    status = "error" if outcome is None else outcome.status
    rest = {"outcome": status, "status": status, "prefix_calls": 0, "prefix_cost_usd": 0.0}
    return msgspec.structs.replace(figures, **rest)
