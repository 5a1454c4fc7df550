"""Runs a live attempt (run, demo, resume, fork) with the terminal's handlers; says how it ended."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from returns.result import Failure, Result, Success

from plancontrol.app.cli.exits import fail
from plancontrol.core.problem import Problem

if TYPE_CHECKING:
    from collections.abc import Callable

    from rich.console import Console

    from plancontrol.app.api import Stopped
    from plancontrol.core.context import Context
    from plancontrol.core.phase import Halt
    from plancontrol.core.ports import Signals
    from plancontrol.core.settings import Settings
    from plancontrol.handlers.console import ConsoleEvents
    from plancontrol.recording.record import Handlers

__all__ = ["asked_at_terminal", "finish", "run_folder"]


def run_folder(run_dir: Path | None, prefix: str, runs_dir: str = "runs") -> Path:
    """The folder given, or a new one under ``runs_dir`` named after the time (made here,
    so that runs started in the same second get their own; removed again if left empty)."""
    import atexit

    from plancontrol.runs.folder import reserve, unreserve

    if run_dir is not None:
        return run_dir
    folder = reserve(Path(runs_dir), f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}")
    atexit.register(unreserve, folder)
    return folder


def asked_at_terminal(settings: Settings | None, fix: str) -> Result[None, Problem]:
    """Refused before anything is paid for: approvals asked at a terminal that is not one."""
    from plancontrol.handlers.terminal import no_terminal

    problem = no_terminal(settings, fix)
    return Failure(Problem(what=problem, where="approval")) if problem else Success(None)


def _asks(settings: Settings | None) -> bool:
    """Whether the run asks a person to approve, at the terminal."""
    return settings is not None and settings.approval != "none"


def _events(settings: Settings | None, *, quiet: bool, err: Console) -> ConsoleEvents | None:
    """Progress on ``err``: none with ``quiet``; at a terminal that no approval prompt shares,
    lines with a status line redrawn in place under them; else plain lines."""
    from plancontrol.handlers.console import ConsoleEvents

    if quiet:
        return None
    return ConsoleEvents(err, live=err.is_terminal and not _asks(settings))


def _handlers(
    watch: Signals, settings: Settings | None, events: ConsoleEvents | None, **knobs: Any
) -> Handlers:
    """The CLI's handlers: progress to ``events`` (none: discarded), approvals at the
    terminal when the run's settings ask for them, Ctrl-C and SIGTERM through ``watch``."""
    from plancontrol.handlers.local import ApproveAll, DiscardEvents
    from plancontrol.handlers.terminal import TerminalApprover
    from plancontrol.recording.record import Handlers

    asks = _asks(settings)
    return Handlers(
        events=DiscardEvents() if events is None else events,
        approver=TerminalApprover.from_settings(settings) if asks and settings else ApproveAll(),
        signals=watch,
        **knobs,
    )


def finish(
    folder: Path,
    attempt: Callable[[Handlers], Result[Context, Stopped]],
    settings: Settings | None,
    *,
    quiet: bool,
    err: Console,
    json_summary: bool = False,
    **knobs: Any,
) -> None:
    """Run ``attempt`` with the CLI's handlers, Ctrl-C and SIGTERM caught; print the tables
    (with ``json_summary``, one JSON document; with ``quiet``, the run folder alone) to
    stdout and the outcome to stderr, and exit 0, 1 (the workflow stopped) or 2 (bad input,
    nothing written)."""
    from plancontrol.handlers.terminal import SignalWatch

    events = _events(settings, quiet=quiet, err=err)
    try:
        with SignalWatch() as watch:
            result = attempt(_handlers(watch, settings, events, **knobs))
    except KeyboardInterrupt:
        raise fail(
            f"interrupted; what finished is in {folder} (continue: plancontrol resume {folder})",
            code=130,
            kind="interrupted",
        ) from None
    finally:
        if events is not None:  # the status line goes before anything else is printed
            events.close()
    last, stopped = _ended(result)
    if stopped is not None:  # said once, even with --quiet: it is the outcome, not progress
        _say_stopped(folder, last, stopped)
    if quiet and not json_summary:
        print(folder)
    else:
        _print_outcome(folder, last, stopped, json_summary)
    raise typer.Exit(0 if stopped is None else 1)


def _ended(result: Result[Context, Stopped]) -> tuple[Context, Halt | None]:
    """The last context and, if the workflow stopped, why; a refused input exits 2."""
    if isinstance(result, Success):
        return result.unwrap(), None
    stopped = result.failure()
    if isinstance(stopped, Problem):
        raise fail(stopped.message)
    return stopped.context, stopped


def _say_stopped(folder: Path, last: Context, stopped: Halt) -> None:
    """On stderr: why the workflow stopped, and the command that continues it."""
    from rich.console import Console

    from plancontrol.app.changes import continue_command
    from plancontrol.handlers.console import closing_lines, stopped_line

    loud = Console(stderr=True, highlight=False)
    loud.print(stopped_line(stopped.message))
    going_on = continue_command(stopped.error, str(folder), last.settings)
    closing_lines(loud, ("continue it with", going_on))


def _print_outcome(folder: Path, last: Context, stopped: Halt | None, json_summary: bool) -> None:
    """On stdout: the tables and where the run is, or (``json_summary``) one JSON document:
    the outcome, the run folder, and the report with its ledger."""
    import shlex

    from rich.console import Console

    from plancontrol.app.cli.output import emit, kind_of, run_document
    from plancontrol.core.ledger import summarize
    from plancontrol.handlers.console import closing_lines, print_report

    report = summarize(last)
    if json_summary:
        error = None if stopped is None else (kind_of(stopped.error), stopped.message)
        emit(run_document(str(folder), report, error))
        return
    out = Console(highlight=False)
    print_report(out, report)
    again = ("replay it with", f"plancontrol replay {shlex.quote(str(folder))}")
    closing_lines(out, ("run folder", str(folder)), again)
