"""The ``plancontrol`` command: picks real handlers, runs a pipeline, prints; exit 0, 1 or 2."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["app", "main"]

app = typer.Typer(
    help="Plan, review, then carry out the plan step by step, carrying context between steps.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _fail(message: str, code: int = 2) -> typer.Exit:
    sys.stderr.write(f"plancontrol: {message}\n")
    return typer.Exit(code)


def _fresh_run_dir(run_dir: Path | None, prefix: str) -> Path:
    """A new run folder; an existing non-empty one is refused so nothing recorded is lost."""
    if run_dir is None:
        run_dir = Path("runs") / f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}"
    if run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir())):
        raise _fail(
            f"run folder {run_dir} already exists and is not empty; choose another "
            "--run-dir or remove it"
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


@app.command()
def demo(
    run_dir: Annotated[Path | None, typer.Option(help="New folder for the run's files.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")] = False,
) -> None:
    """Run the whole workflow offline: scripted agents, real code execution in RUN_DIR."""
    from rich.console import Console

    from plancontrol.console import ConsoleEvents, report_tables
    from plancontrol.context import Context, encode_context
    from plancontrol.demo import DEMO_TASK, demo_agents
    from plancontrol.effects import Effects
    from plancontrol.ledger import summarize
    from plancontrol.local import FolderWorkspace, SubprocessExecutor, SystemClock
    from plancontrol.pipeline import PLANNING_AND_CONTROL, run_pipeline
    from plancontrol.testing import RecordingEvents, ScriptedApprover, ScriptedSignals

    folder = _fresh_run_dir(run_dir, "demo")
    err = Console(stderr=True, quiet=quiet)
    out = Console()
    err.print(f"[bold]plancontrol demo[/]: {DEMO_TASK}")
    err.print("agents are scripted; the engineer's code really runs, in " + str(folder))
    fx = Effects(
        agents=demo_agents(),
        executor=SubprocessExecutor(folder, timeout=60.0),
        workspace=FolderWorkspace(folder),
        events=ConsoleEvents(err) if not quiet else RecordingEvents(),
        approver=ScriptedApprover(),
        clock=SystemClock(),
        signals=ScriptedSignals(),
    )
    result = run_pipeline(PLANNING_AND_CONTROL, Context(task=DEMO_TASK), fx)
    ctx = result.value_or(None) or result.failure().context
    fx.workspace.write("context.json", encode_context(ctx).decode())
    for table in report_tables(summarize(ctx)):
        out.print(table)
    out.print(f"run folder: {folder}")
    if ctx is not result.value_or(None):
        raise _fail(result.failure().message, code=1)


@app.command()
def version() -> None:
    """Print plancontrol's version."""
    from plancontrol import __version__

    print(__version__)


def main() -> None:
    """Entry point of the console script and of ``python -m plancontrol``."""
    app()
