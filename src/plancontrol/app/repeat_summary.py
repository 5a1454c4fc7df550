"""How stable a repeated step is: each repetition's figures and their summary; no I/O."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence

import msgspec

from plancontrol.core.ledger import summed_cost

__all__ = [
    "Asked",
    "FileAgreement",
    "FileHash",
    "RepeatSummary",
    "Spread",
    "StepRun",
    "summarize_repeat",
]


class Asked(msgspec.Struct, frozen=True, kw_only=True):
    """What a repeat was asked to do: step ``step`` of ``run_dir``, ``times`` times, into
    ``into``, ``workers`` at a time."""

    run_dir: str
    step: int
    times: int
    workers: int
    into: str


class FileHash(msgspec.Struct, frozen=True, kw_only=True):
    """A file the step produced, by its path in the run folder, and the sha256 of its bytes."""

    path: str
    sha256: str


class StepRun(msgspec.Struct, frozen=True, kw_only=True):
    """One run of the step: a repetition (``number`` from 1) or the original (0).

    ``outcome`` is ``completed``, ``skipped``, the kind of error the step failed with
    (``attempts_exhausted``), ``interrupted`` (Ctrl-C), or ``error`` when the repetition
    recorded no outcome of the step (its process was refused or crashed: ``error`` says
    why)."""

    number: int
    run_dir: str
    outcome: str
    status: str
    error: str = ""
    attempts: int = 0
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = 0.0
    seconds: float = 0.0
    files: tuple[FileHash, ...] = ()
    prefix_calls: int = 0
    """Model calls the repetition made outside the step (0: the steps before came from the
    recording)."""
    prefix_cost_usd: float = 0.0
    """What those calls cost, as far as their prices are known."""
    exit_code: int | None = None


class Spread(msgspec.Struct, frozen=True, kw_only=True):
    """The least, the median and the most of some counts."""

    min: int
    median: float
    max: int


class FileAgreement(msgspec.Struct, frozen=True, kw_only=True):
    """Whether the repetitions whose step completed produced the same bytes at ``path``:
    how many distinct hashes (a missing file counts as one), the original's hash (None: it
    made no such file), and the repetitions whose file differs from the original's or is
    missing."""

    path: str
    distinct: int
    recorded: str | None
    differ: tuple[int, ...]


class RepeatSummary(msgspec.Struct, frozen=True, kw_only=True):
    """A repeat of step ``step`` of the run in ``run_dir``: each repetition (a fork in
    ``into``), the original's step, and what they add up to (``repeat.json``)."""

    format: int = 1
    run_dir: str
    step: int
    times: int
    workers: int
    into: str
    original: StepRun
    repetitions: tuple[StepRun, ...]
    counts: dict[str, int]
    as_original: int
    """Repetitions whose step ended with the original's status (completed, failed...)."""
    attempts: Spread
    files: tuple[FileAgreement, ...]
    files_agree: bool
    cost_usd: float | None
    mean_cost_usd: float | None
    prefix_calls: int
    prefix_cost_usd: float
    seconds: float


def _spread(values: Sequence[int]) -> Spread:
    """
    >>> _spread([2, 1, 2, 2, 1])
    Spread(min=1, median=2, max=2)
    """
    if not values:
        return Spread(min=0, median=0, max=0)
    return Spread(min=min(values), median=statistics.median(values), max=max(values))


def _agreement(path: str, original: StepRun, runs: Sequence[StepRun]) -> FileAgreement:
    """How the repetitions' files at ``path`` compare with each other and the original's."""
    recorded = next((f.sha256 for f in original.files if f.path == path), None)
    hashes = {
        run.number: next((f.sha256 for f in run.files if f.path == path), None) for run in runs
    }
    differ = tuple(n for n, sha in hashes.items() if sha is None or sha != recorded)
    return FileAgreement(
        path=path, distinct=len(set(hashes.values())), recorded=recorded, differ=differ
    )


def summarize_repeat(
    asked: Asked, original: StepRun, runs: Sequence[StepRun], seconds: float
) -> RepeatSummary:
    """The summary of the repetitions ``runs`` of the ``original`` step."""
    measured = [run for run in runs if run.status != "error"]
    completed = [run for run in runs if run.status == "completed"]
    made = (original, *completed) if completed else ()
    paths = dict.fromkeys(f.path for run in made for f in run.files)
    files = tuple(_agreement(path, original, completed) for path in paths)
    cost = summed_cost([run.cost_usd for run in runs])
    return RepeatSummary(
        run_dir=asked.run_dir,
        step=asked.step,
        times=asked.times,
        workers=asked.workers,
        into=asked.into,
        original=original,
        repetitions=tuple(runs),
        counts=dict(Counter(run.outcome for run in runs).most_common()),
        as_original=sum(run.status == original.status for run in runs),
        attempts=_spread([run.attempts for run in measured]),
        files=files,
        files_agree=bool(completed) and all(f.distinct == 1 and not f.differ for f in files),
        cost_usd=cost,
        mean_cost_usd=None if cost is None or not runs else cost / len(runs),
        prefix_calls=sum(run.prefix_calls for run in runs),
        prefix_cost_usd=sum(run.prefix_cost_usd for run in runs),
        seconds=seconds,
    )
