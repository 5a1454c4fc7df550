"""The ``repeat`` command: one step of a run again N times, and how stable it came out."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from plancontrol.app.cli.options import (
    Effort,
    JsonSummary,
    MaxRetries,
    MaxTokens,
    Quiet,
    RoleModel,
    Sets,
    Structured,
    Timeout,
)

if TYPE_CHECKING:
    from plancontrol.app.repeat_summary import FileHash, RepeatSummary, StepRun

__all__ = ["repeat", "summary_lines"]

Step = Annotated[int, typer.Option(help="The plan step to run again (from 1).")]
Times = Annotated[int, typer.Option(help="How many times to run it.")]
Workers = Annotated[int, typer.Option(help="Repetitions run at once, each in its own process.")]
Into = Annotated[
    Path | None,
    typer.Option(help="Folder for the repetitions (default: RUN_DIR-repeat-step-K beside it)."),
]
Model = Annotated[str | None, typer.Option(help="Model for every role of the repetitions.")]
BaseUrl = Annotated[str | None, typer.Option(help="An OpenAI-compatible server to ask instead.")]


def repeat(  # one parameter per option: typer makes the options from them (hence the length)
    run_dir: Annotated[Path, typer.Argument(help="The run folder whose step to repeat.")],
    step: Step,
    times: Times,
    workers: Workers = 1,
    into: Into = None,
    model: Model = None,
    role_model: RoleModel = None,
    base_url: BaseUrl = None,
    structured: Structured = None,
    timeout: Timeout = None,
    max_retries: MaxRetries = None,
    reasoning_effort: Effort = None,
    max_tokens: MaxTokens = None,
    set_: Sets = None,
    json_summary: JsonSummary = False,
    quiet: Quiet = False,
) -> None:
    """Run step K of a recorded run again N times, each as a fork of its own (INTO/01, ...)
    that takes the steps before K from the recording (no model is asked for them) and stops
    after step K; then say how stable step K is: the outcomes, attempts, whether the files it
    produced agree (sha256), and the cost. Exit 0 when the repeat ran, whatever step K came
    to; 2 on bad input."""
    given = dict(locals())  # first: the command's parameters only
    import sys

    import msgspec

    from plancontrol.app import repeat as repeats
    from plancontrol.app.cli.exits import fail, or_fail

    named = [f.name for f in msgspec.structs.fields(repeats.ModelOptions)]
    models = {name: given[name] for name in named if name in given}
    options = repeats.ModelOptions(**models, role_models=tuple(role_model or ()))

    def said(row: StepRun) -> None:
        if not quiet:
            sys.stderr.write(f"repetition {row.number}: {_outcome(row)}\n")

    try:
        summary = or_fail(
            repeats.repeat(
                run_dir, step=step, times=times, workers=workers, into=into, options=options,
                sets=tuple(set_ or ()), on_done=said,
            )
        )  # fmt: skip
    except KeyboardInterrupt:
        raise fail(
            "interrupted; the repetitions that finished are kept", 130, "interrupted"
        ) from None
    _print(summary, json_summary)


def _print(summary: RepeatSummary, json_summary: bool) -> None:
    """The table and summary lines, or with --json one document."""
    import msgspec

    from plancontrol.app.cli.output import emit

    if json_summary:
        emit({"type": "repeat", **msgspec.to_builtins(summary)})
        return
    for line in summary_lines(summary):
        print(line)


def _outcome(row: StepRun) -> str:
    """A repetition's outcome, with its error when it has one."""
    return row.outcome if not row.error else f"{row.outcome}: {row.error}"


def _cost(cost: float | None) -> str:
    """Dollars, or ``?`` when a price is unknown."""
    return "?" if cost is None else f"${cost:.6f}"


def _files(files: tuple[FileHash, ...]) -> str:
    """Each file with the start of its sha256."""
    return " ".join(f"{f.path}={f.sha256[:8]}" for f in files) or "-"


def _table(summary: RepeatSummary) -> list[str]:
    """A row per repetition, the original's row last."""
    heads = ["#", "outcome", "attempts", "calls", "cost", "time", "files"]
    rows = [
        [
            "original" if r.number == 0 else f"{r.number:02d}",
            r.outcome,
            str(r.attempts),
            str(r.calls),
            _cost(r.cost_usd),
            f"{r.seconds:.2f} s",
            _files(r.files),
        ]
        for r in (*summary.repetitions, summary.original)
    ]
    table = [heads, *rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(heads))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in table]


def summary_lines(summary: RepeatSummary) -> list[str]:
    """The table, then what the repetitions add up to, one line each."""
    n, s = summary.times, summary.attempts
    counts = ", ".join(f"{kind} {count}/{n}" for kind, count in summary.counts.items())
    files = [
        f"  {f.path}: {f.distinct} distinct hash(es); differ from the original: "
        + (", ".join(f"{d:02d}" for d in f.differ) or "none")
        for f in summary.files
    ]
    agree = "they agree" if summary.files_agree else "they differ"
    mean = _cost(summary.mean_cost_usd)
    return [
        f"step {summary.step} of {summary.run_dir}, {n} time(s), in {summary.into}",
        *_table(summary),
        f"outcomes: {counts} (original: {summary.original.outcome}; "
        f"{summary.as_original}/{n} as the original)",
        f"attempts: min {s.min}, median {s.median:g}, max {s.max}",
        f"files of the completed repetitions: {agree if files else 'none made'}"
        if any(r.status == "completed" for r in summary.repetitions)
        else "files: no repetition completed the step",
        *files,
        f"cost: {_cost(summary.cost_usd)} in all, {mean} per repetition; "
        f"steps before {summary.step}: {summary.prefix_calls} model call(s), "
        f"{_cost(summary.prefix_cost_usd)} (from the recording)",
        f"time: {summary.seconds:.2f} s",
    ]
