"""``plancontrol replay DIR [DIR ...]``: many run folders replayed in parallel, a line for each."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from plancontrol.app.cli.exits import fail

if TYPE_CHECKING:
    from plancontrol.recording.many import RunReplay

__all__ = [
    "RunDirs",
    "Workers",
    "many_document",
    "replay_folders",
    "run_line",
    "summary_line",
    "the_one",
    "worst_exit",
]

RunDirs = Annotated[
    list[Path],
    typer.Argument(
        help="A folder written by `plancontrol run`; or several, or folders holding runs "
        "(a batch), replayed in parallel, a line for each.",
        show_default=False,
    ),
]
Workers = Annotated[
    int | None,
    typer.Option(
        help="Worker processes replaying several runs at once [default: one per CPU].",
        show_default=False,
    ),
]

SAID = {"identical": "identical", "differs": "differs", "cannot_replay": "cannot replay"}
"""How each status reads on a run's line and in the summary."""


def the_one(
    dirs: Sequence[Path],
    workers: int | None,
    json_summary: bool,
    part: str | None,
    rerun_code: bool,
    pipeline: str | None,
) -> Path:
    """The one run folder in ``dirs``; when they are more than one folder, or one that holds
    runs rather than is one, every run is replayed here (see ``replay_folders``) and the
    command exits: ``part``, ``rerun_code`` and ``pipeline`` apply to one folder only."""
    from plancontrol.recording.many import holds_runs

    if len(dirs) > 1 or holds_runs(dirs[0]):
        replay_folders(
            dirs, workers, json_summary, part=part, rerun_code=rerun_code, pipeline=pipeline
        )
    return dirs[0]


def replay_folders(
    dirs: Sequence[Path], workers: int | None, json_summary: bool, **single: object
) -> None:
    """Replay every run ``dirs`` name, ``workers`` at a time; a line per run and a summary
    (or one JSON document); exit with the highest status a replay of each alone would have:
    2 when one cannot be replayed, else 1 when one differs, else 0. ``single``: the options
    that apply to one folder only, refused when given."""
    from plancontrol.app.api import replay_many
    from plancontrol.app.cli.output import emit

    for name, value in single.items():
        if value:
            flag = "--" + name.replace("_", "-")
            raise fail(f"{flag} applies to one run folder; replay them one at a time with it")
    workers = workers if workers is not None else os.cpu_count() or 1
    start = time.perf_counter()
    replayed = replay_many(dirs, workers=workers)
    if not isinstance(replayed.value_or(None), tuple):
        raise fail(replayed.failure().message)
    results: tuple[RunReplay, ...] = replayed.unwrap()
    seconds = time.perf_counter() - start
    if json_summary:
        emit(many_document(results, workers, seconds))
    else:
        width = max(len(r.run_dir) for r in results)
        for result in results:
            print(run_line(result, width))
        print(summary_line(results, workers, seconds))
    raise typer.Exit(worst_exit(results))


def run_line(result: RunReplay, width: int = 0) -> str:
    """The run's folder, how its replay came out (and where or why) and how long it took.

    >>> from plancontrol.recording.many import RunReplay
    >>> run_line(RunReplay(run_dir="runs/a", status="differs", detail="at $.task", seconds=0.5))
    'runs/a  differs: at $.task  (0.50 s)'
    """
    said = SAID[result.status] + (f": {result.detail}" if result.detail else "")
    return f"{result.run_dir:<{width}}  {said}  ({result.seconds:.2f} s)"


def summary_line(results: Sequence[RunReplay], workers: int, seconds: float) -> str:
    """How many runs came out each way, with how many workers and in how long.

    >>> from plancontrol.recording.many import RunReplay
    >>> summary_line([RunReplay(run_dir="a", status="identical")], 2, 1.0)
    '1 run replayed with 2 workers in 1.00 s: identical 1, differs 0, cannot replay 0'
    """
    counts = _counts(results)
    runs = "run" if len(results) == 1 else "runs"
    with_ = "1 worker" if workers == 1 else f"{workers} workers"
    return f"{len(results)} {runs} replayed with {with_} in {seconds:.2f} s: " + ", ".join(
        f"{SAID[status]} {count}" for status, count in counts.items()
    )


def _counts(results: Sequence[RunReplay]) -> dict[str, int]:
    return {status: sum(r.status == status for r in results) for status in SAID}


def worst_exit(results: Sequence[RunReplay]) -> int:
    """2 when a run cannot be replayed, else 1 when one differs, else 0.

    >>> from plancontrol.recording.many import RunReplay
    >>> worst_exit([RunReplay(run_dir="a", status="identical")])
    0
    """
    statuses = {r.status for r in results}
    return 2 if "cannot_replay" in statuses else 1 if "differs" in statuses else 0


def many_document(results: Sequence[RunReplay], workers: int, seconds: float) -> dict[str, Any]:
    """What ``replay`` with several folders prints under ``--json`` (type ``replays``):
    whether all are identical, the counts, and each run's status, where it first differs
    or why it cannot be replayed, its sha256, snapshots and seconds."""
    return {
        "type": "replays",
        "identical": all(r.identical for r in results),
        "workers": workers,
        "seconds": seconds,
        "counts": _counts(results),
        "runs": [
            {
                "run_dir": r.run_dir,
                "status": r.status,
                "difference": r.detail if r.status == "differs" else None,
                "problem": r.detail if r.status == "cannot_replay" else None,
                "sha256": r.sha256,
                "snapshots": r.snapshots,
                "seconds": r.seconds,
            }
            for r in results
        ],
    }
