"""The ``report`` command: write a run's self-contained HTML report; reads the run folder only."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from plancontrol.app.cli.exits import or_fail
from plancontrol.app.cli.options import JsonSummary

__all__ = ["report"]


def report(
    run_dir: Annotated[Path, typer.Argument(help="A run folder, finished or not.")],
    html: Annotated[
        Path | None,
        typer.Option(help="Where to write the page (default: RUN_DIR/report.html)."),
    ] = None,
    json_summary: JsonSummary = False,
) -> None:
    """Write one self-contained HTML page of a run (no network needed to view it): its
    status, plan, timeline, each step's code, output, verdicts, reports and plots, and its
    cost and tokens. Prints the file written."""
    from plancontrol.app.cli.output import emit
    from plancontrol.app.report.render import write_report

    written = or_fail(write_report(run_dir, html))
    if json_summary:
        emit({"type": "report", "run_dir": str(run_dir), "html": str(written)})
    else:
        print(written)
