"""The ``show`` command: a run folder's status, plan, attempts and tables; reads the folder only."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from plancontrol.app.cli.exits import or_fail
from plancontrol.app.cli.options import JsonSummary

if TYPE_CHECKING:
    from plancontrol.runs.state import RunState

__all__ = ["show"]


def show(
    run_dir: Annotated[Path, typer.Argument(help="A run folder, finished or not.")],
    step: Annotated[
        int | None,
        typer.Option(help="Each attempt at step K: code, exit code, output, the judge's verdict."),
    ] = None,
    json_summary: JsonSummary = False,
) -> None:
    """Show a run: its status, the plan with each step's status, attempts and summary, and
    the cost and timing tables; with --step K, each attempt at step K. Reads the folder only."""
    from plancontrol.app.cli.output import emit, show_document
    from plancontrol.core.ledger import summarize
    from plancontrol.runs.state import run_state

    if step is not None:
        _show_step(run_dir, step, json_summary)
    state = or_fail(run_state(run_dir))
    if json_summary:
        emit(show_document(str(run_dir), state, summarize(state.context)))
    else:
        _print_state(state)
    raise typer.Exit(0)


def _print_state(state: RunState) -> None:
    """The task, status, origin and sessions of a run, its plan's progress and its tables."""
    from rich.console import Console

    from plancontrol.core.ledger import summarize
    from plancontrol.handlers.console import labelled, print_report, progress_table
    from plancontrol.runs.folder import shown_statuses

    out = Console(highlight=False)
    out.print(labelled("task", state.manifest.task))
    out.print(labelled("status", state.status))
    if state.manifest.forked_from:
        origin = f"{state.manifest.forked_from} at step {state.manifest.fork_step}"
        out.print(labelled("forked from", origin), soft_wrap=True)  # a path, never broken
    shown = zip(state.sessions, shown_statuses(state.sessions), strict=True)
    sessions = ", ".join(f"{s.number} {s.command} ({status})" for s, status in shown)
    out.print(labelled("sessions", sessions))
    if state.context.plan is not None:
        out.print(progress_table(state.context))
    print_report(out, summarize(state.context))


def _show_step(run_dir: Path, step: int, json_summary: bool) -> None:
    """Print each attempt at ``step`` (as one JSON document with ``json_summary``); exit."""
    import msgspec

    from plancontrol.app.cli.output import emit
    from plancontrol.recording.attempts import attempts_text, step_record

    record = or_fail(step_record(run_dir, step))
    if json_summary:
        emit({"type": "step", "run_dir": str(run_dir), **msgspec.to_builtins(record)})
    else:
        print(attempts_text(record))
    raise typer.Exit(0)
