"""The ``batch`` command: every task of a TASKS.jsonl its own run, a table of how each ended."""

from __future__ import annotations

import contextlib
import sys
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
    Structured,
    Timeout,
)

if TYPE_CHECKING:
    from plancontrol.app.batch import BatchRow, BatchSummary

__all__ = ["batch"]

Tasks = Annotated[
    Path,
    typer.Argument(
        help='One task a line, as JSON: {"task": ..., "id", "settings", "variables", "plan", '
        '"pipeline" optional}.'
    ),
]
Into = Annotated[Path, typer.Option(help="The batch folder: each task's run in INTO/<id>.")]
Workers = Annotated[
    int, typer.Option(help="Tasks run at once, each by its own process (with ray: a Ray task).")
]
Model = Annotated[
    str | None, typer.Option(help="Model for every role of every run; 'local' for the embedded.")
]
BaseUrl = Annotated[
    str | None, typer.Option(help="An OpenAI-compatible server for every run of the batch.")
]
Engine = Annotated[
    str,
    typer.Option(help="local: processes on this machine; ray: Ray tasks (the ray extra)."),
]
Address = Annotated[
    str | None,
    typer.Option(
        help="The Ray instance to run on (as ray.init takes it); none: a local one for the batch."
    ),
]
RetryFailed = Annotated[
    bool, typer.Option("--retry-failed", help="Resume the runs that failed, as well.")
]


def batch(  # one parameter per option: typer makes the options from them (hence the length)
    tasks: Tasks,
    into: Into,
    workers: Workers = 1,
    retry_failed: RetryFailed = False,
    engine: Engine = "local",
    address: Address = None,
    model: Model = None,
    role_model: RoleModel = None,
    base_url: BaseUrl = None,
    structured: Structured = None,
    timeout: Timeout = None,
    max_retries: MaxRetries = None,
    reasoning_effort: Effort = None,
    max_tokens: MaxTokens = None,
    json_summary: JsonSummary = False,
    quiet: Quiet = False,
) -> None:
    """Run every task of TASKS (a JSON lines file) as its own recorded run in INTO/<id>, each
    in its own process; run it again to skip the finished runs and resume the stopped ones.
    Exit 0 when every run finished, 1 when any did not, 2 on a bad task list."""
    from plancontrol.app import batch as batches
    from plancontrol.app.cli.exits import fail, or_fail

    options = batches.ModelOptions(
        model=model,
        base_url=base_url,
        role_models=tuple(role_model or ()),
        structured=structured,
        timeout=timeout,
        max_retries=max_retries,
        reasoning_effort=reasoning_effort,
        max_tokens=max_tokens,
    )

    shown = _Shown(tasks, quiet)
    try:
        with contextlib.redirect_stdout(sys.stderr):  # Ray says a worker died on stdout
            done = batches.batch(
                tasks, into, workers=workers, retry_failed=retry_failed, options=options,
                engine=engine, address=address, on_start=shown.started, on_done=shown.ended,
            )  # fmt: skip
        summary = or_fail(done)
    except KeyboardInterrupt:
        again = "run the same command again to resume the runs that stopped"
        raise fail(
            f"interrupted; what finished is in {into}; {again}", 130, "interrupted"
        ) from None
    finally:
        shown.stop()
    _print_summary(summary, json_summary)
    raise typer.Exit(0 if summary.ok else 1)


class _Shown:
    """The batch's progress on stderr: nothing with --quiet; at a terminal, a line per task as
    it ends under a bar redrawn in place (tasks done, failed, running, the time); else the
    lines alone."""

    def __init__(self, tasks: Path, quiet: bool) -> None:
        from rich.console import Console

        from plancontrol.app.batch_progress import BatchLine
        from plancontrol.app.batch_tasks import read_tasks
        from plancontrol.handlers.progress import LiveStatus

        self.quiet, self.err = quiet, Console(stderr=True)
        self.line = BatchLine(len(read_tasks(tasks).value_or(())))
        self.live = LiveStatus(self.err, self.line) if self.err.is_terminal else None

    def started(self, name: str) -> None:
        self.line.started(name)
        if self.live is not None and not self.quiet:
            self.live.start()

    def ended(self, row: BatchRow) -> None:
        self.line.ended(row)
        if self.quiet:
            return
        if self.live is None:
            sys.stderr.write(f"{row.id}: {_done_line(row)}\n")
        else:
            from rich.text import Text

            self.err.print(Text(f"{row.id}: {_done_line(row)}"), soft_wrap=True)

    def stop(self) -> None:
        if self.live is not None:
            self.live.stop()


def _done_line(row: BatchRow) -> str:
    """How one task ended, for the line said as it ends."""
    what = {"run": "ran", "resume": "resumed", "skip": "skipped"}[row.action]
    return f"{what}: {row.message or row.status}"


def _print_summary(summary: BatchSummary, json_summary: bool) -> None:
    """The table (a row per task, then the totals) or, with --json, one document."""
    import msgspec

    from plancontrol.app.cli.output import emit

    if json_summary:
        emit(
            {
                "type": "batch",
                "ok": summary.ok,
                "counts": summary.counts(),
                "steps_done": sum(r.steps_done for r in summary.rows),
                "steps_planned": sum(r.steps_planned for r in summary.rows),
                "cost_usd": summary.cost_usd(),
                "seconds": summary.seconds,
                "tasks": [msgspec.to_builtins(row) for row in summary.rows],
            }
        )
        return
    for line in table_lines(summary):
        print(line)


def table_lines(summary: BatchSummary) -> list[str]:
    """The summary table: id, what was done, status, steps, cost and time, then the totals."""
    rows = [_cells(r) for r in summary.rows]
    done = sum(r.steps_done for r in summary.rows)
    planned = sum(r.steps_planned for r in summary.rows)
    counts = ", ".join(f"{k} {v}" for k, v in summary.counts().items() if v)
    cost, seconds = _cost(summary.cost_usd()), f"{summary.seconds:.2f} s"
    total = ["total", "", counts, f"{done}/{planned}", cost, seconds]
    heads = ["id", "done", "status", "steps", "cost", "time"]
    table = [heads, *rows, total]
    widths = [max(len(row[i]) for row in table) for i in range(len(heads))]
    return [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in table
    ]


def _cells(r: BatchRow) -> list[str]:
    """One task's cells of the table."""
    steps = f"{r.steps_done}/{r.steps_planned}"
    return [r.id, r.action, r.status, steps, _cost(r.cost_usd), f"{r.seconds:.2f} s"]


def _cost(cost: float | None) -> str:
    """A cost in dollars, or ``?`` when a price is unknown."""
    return "?" if cost is None else f"${cost:.4f}"
