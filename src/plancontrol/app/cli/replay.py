"""The ``replay`` command: run a recorded run again offline and say whether it ended as recorded."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from returns.result import Failure

from plancontrol.app.cli.exits import fail, or_fail
from plancontrol.app.cli.options import CodeTimeout, JsonSummary, Quiet
from plancontrol.app.cli.replay_many import RunDirs, Workers, the_one
from plancontrol.handlers.defaults import CODE_TIMEOUT

if TYPE_CHECKING:
    from plancontrol.recording.replay import ReplayOutcome

__all__ = ["replay", "replayed"]


def replay(
    run_dirs: RunDirs,
    part: Annotated[
        str | None,
        typer.Option(help="Replay one phase or step alone, e.g. review, 2 or step-02."),
    ] = None,
    rerun_code: Annotated[
        bool,
        typer.Option(
            "--rerun-code",
            help="Also run every recorded script again, in a scratch folder, and compare.",
        ),
    ] = False,
    code_timeout: CodeTimeout = CODE_TIMEOUT,
    pipeline: Annotated[
        str | None,
        typer.Option(help="MODULE:NAME: where the recorded pipeline lives now, if it moved."),
    ] = None,
    workers: Workers = None,
    json_summary: JsonSummary = False,
    quiet: Quiet = False,
) -> None:
    """Run a recorded run again offline (no model; scripts' recorded results are served) and
    check that it ends exactly as recorded: exit 0 when identical, 1 when not."""
    from plancontrol.app.cli.output import emit, replay_document

    run_dir = the_one(run_dirs, workers, json_summary, part, rerun_code, pipeline)
    if rerun_code and part is not None:
        raise fail("--rerun-code replays the whole run; leave out --part")
    rerun = code_timeout if rerun_code else None
    outcome = replayed(
        run_dir, quiet, part=part, rerun_code=rerun, tables=not json_summary, pipeline=pipeline
    )
    if json_summary:
        emit(replay_document(str(run_dir), part, outcome, rerun_code))
        raise typer.Exit(0 if outcome.identical and not outcome.code_differences else 1)
    if rerun_code:
        _say_code_rerun(outcome)
    _say_verdict(outcome, part)


def replayed(
    run_dir: Path,
    quiet: bool,
    lenient: bool = False,
    part: str | None = None,
    rerun_code: float | None = None,
    tables: bool = True,
    pipeline: str | None = None,
) -> ReplayOutcome:
    """Replay ``run_dir`` (or one ``part`` of it), showing progress and (with ``tables``)
    the tables unless ``quiet``."""
    from rich.console import Console

    from plancontrol.app import api
    from plancontrol.core.ledger import summarize
    from plancontrol.handlers.console import ConsoleEvents, print_report, stopped_line

    err = Console(stderr=True, quiet=quiet, highlight=False)
    events = None if quiet else ConsoleEvents(err)
    played = api.replay(
        run_dir, part=part, rerun_code=rerun_code, lenient=lenient, events=events, pipeline=pipeline
    )
    outcome = or_fail(played)
    if not quiet:
        if tables:
            print_report(Console(highlight=False), summarize(outcome.context))
        if isinstance(outcome.result, Failure):
            err.print(stopped_line(outcome.result.failure().message))
    return outcome


def _say_code_rerun(outcome: ReplayOutcome) -> None:
    """Each script that ran differently from its recording (then exit 1), or that all ran alike."""
    for difference in outcome.code_differences:
        print(f"code ran differently: {difference}")
    scripts = [d for d in outcome.code_differences if d.startswith("step ")]
    made = len(outcome.code_differences) - len(scripts)
    said = []
    if scripts:
        said.append(f"{len(scripts)} of {outcome.code_rerun} script run(s) ended differently")
    if made:
        said.append(f"{made} file(s) the scripts made differ")
    if said:
        raise fail(f"{' and '.join(said)} from the recording", code=1)
    print(f"code: {outcome.code_rerun} script run(s) executed again, each as recorded")


def _say_verdict(outcome: ReplayOutcome, part: str | None) -> None:
    """Identical (exit 0, with the digest) or where the replay first differs (exit 1)."""
    verdict = outcome.verdict
    if outcome.identical and part is not None:
        print(f"replay of {part} identical to the recording: sha256 {verdict.digest}")
        raise typer.Exit(0)
    if outcome.identical:
        print(
            f"replay identical to the recording ({len(outcome.snapshots)} snapshots and the "
            f"final context): sha256 {verdict.digest}"
        )
        raise typer.Exit(0)
    raise fail(f"replay differs from the recording, {outcome.difference}", code=1)
