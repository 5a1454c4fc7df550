"""The ``plancontrol`` command: the typer app, its commands in help order; exit 0, 1 or 2."""

# Each command lives in a module of its own (run.py: run and demo; resume.py: resume and
# fork; replay.py, check.py, show.py, report.py, init.py); options more than one takes are in
# options.py. Those modules import only typer at the top, the rest when a command runs, so
# that `plancontrol --help` starts fast.

from __future__ import annotations

import sys
from typing import Annotated

import typer

from plancontrol.app.cli.batch import batch
from plancontrol.app.cli.check import check
from plancontrol.app.cli.diff import diff
from plancontrol.app.cli.init import init
from plancontrol.app.cli.options import JsonSummary
from plancontrol.app.cli.repeat import repeat
from plancontrol.app.cli.replay import replay
from plancontrol.app.cli.report import report
from plancontrol.app.cli.resume import fork, resume
from plancontrol.app.cli.run import demo, run
from plancontrol.app.cli.show import show

__all__ = ["app", "main"]

app = typer.Typer(
    help="Plan, review, then carry out the plan step by step, carrying context between steps.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: typer's rich help imports a Markdown parser (~0.1 s)
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(wanted: bool) -> None:
    if wanted:
        from plancontrol import __version__

        print(__version__)
        raise typer.Exit(0)


@app.callback()
def _everywhere(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version; exit."
        ),
    ] = False,
) -> None:
    """Plan, review, then carry out the plan step by step, carrying context between steps."""


def version(json_summary: JsonSummary = False) -> None:
    """Print plancontrol's version."""
    from plancontrol import __version__
    from plancontrol.app.cli.output import emit

    if json_summary:
        emit({"type": "version", "version": __version__})
    else:
        print(__version__)


for _command in (
    run, batch, init, demo, replay, check, resume, fork, repeat, show, report, diff, version
):  # fmt: skip
    app.command()(_command)  # in this order in --help and docs/cli.md


def main() -> None:
    """Entry point of the console script and of ``python -m plancontrol``."""
    from plancontrol.app.cli.output import JSON_FLAG, run_with_json_errors

    if JSON_FLAG in sys.argv[1:]:  # usage errors too become a JSON document on stdout
        sys.exit(run_with_json_errors(typer.main.get_command(app).main, sys.argv[1:]))
    app()
