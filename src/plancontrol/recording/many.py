"""Replaying many run folders at once: finding the runs, sharing them out to worker processes."""

from __future__ import annotations

import functools
import multiprocessing
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import Literal

import msgspec
from returns.result import Failure, Result, Success

from plancontrol.core.problem import Problem
from plancontrol.recording.replay import ReplayOutcome, replay_run

__all__ = ["Check", "RunReplay", "holds_runs", "replay_many", "replay_one", "runs_in"]

Status = Literal["identical", "differs", "cannot_replay"]

Check = Callable[[Path, ReplayOutcome], ReplayOutcome]
"""A further check of a replayed run (a module-level function, so that it reaches worker
processes): the outcome again, with what else differs added."""

PRELOAD = (
    "plancontrol.recording.many",
    "plancontrol.recording.cassettes",
    "plancontrol.handlers.ag2_agents",
    "ag2",
    "ag2.events.input_events",
    "ag2.config",
    "openai",
    "vcr",
)
"""What the worker processes' parent (the fork server) imports once, before forking them:
replaying needs ag2, openai and vcrpy (about 1.5 s of imports), which each worker then
starts with."""


class RunReplay(msgspec.Struct, frozen=True, kw_only=True):
    """How the replay of one run folder came out: ``identical``, ``differs`` (``detail``:
    where first) or ``cannot_replay`` (``detail``: why, as ``plancontrol replay`` says it).

    >>> RunReplay(run_dir="runs/a", status="differs", detail="at $.task").identical
    False
    """

    run_dir: str
    status: Status
    detail: str = ""
    sha256: str | None = None
    snapshots: int = 0
    seconds: float = 0.0
    unplayed_requests: int = 0
    unplayed_journal: tuple[tuple[str, int], ...] = ()

    @property
    def identical(self) -> bool:
        """The replay ended exactly as recorded, every snapshot included."""
        return self.status == "identical"


def runs_in(paths: Iterable[Path]) -> Result[tuple[Path, ...], Problem]:
    """The run folders ``paths`` name, in their order: a run folder (``manifest.json`` and
    ``sessions/``) is itself; another folder stands for the runs one level down in it, by
    name (a batch folder), or for itself when it holds none (its replay says what is wrong).
    The same folder named twice is replayed once; a path that is no folder is a Failure.

    >>> runs_in([Path("no/such/folder")]).failure().message
    'no/such/folder is not a folder; pass run folders, or folders that hold runs'
    """
    found: dict[Path, Path] = {}
    for path in paths:
        if not path.is_dir():
            return Failure(
                Problem(
                    what=f"{path} is not a folder",
                    where=str(path),
                    fix="pass run folders, or folders that hold runs",
                )
            )
        for run in _runs_of(path):
            found.setdefault(run.resolve(), run)
    return Success(tuple(found.values()))


def holds_runs(folder: Path) -> bool:
    """Whether ``folder`` is not a run folder but holds some, one level down (a batch)."""
    return folder.is_dir() and _runs_of(folder) != (folder,)


def _is_run(folder: Path) -> bool:
    return (folder / "manifest.json").is_file() and (folder / "sessions").is_dir()


def _runs_of(folder: Path) -> tuple[Path, ...]:
    if _is_run(folder):
        return (folder,)
    held = tuple(sorted(c for c in folder.iterdir() if c.is_dir() and _is_run(c)))
    return held or (folder,)


def replay_one(run_dir: Path, check: Check | None = None) -> RunReplay:
    """Replay ``run_dir`` offline, quietly, ``check`` the outcome when given, and say how it
    came out and how long it took."""
    start = time.perf_counter()
    replayed = replay_run(run_dir)
    if check is not None:
        replayed = replayed.map(functools.partial(check, run_dir))
    seconds = time.perf_counter() - start
    match replayed:
        case Success(outcome):
            return _came_out(str(run_dir), outcome, seconds)
        case _:
            problem = replayed.failure()
            return RunReplay(
                run_dir=str(run_dir),
                status="cannot_replay",
                detail=problem.message,
                seconds=seconds,
            )


def _came_out(name: str, outcome: ReplayOutcome, seconds: float) -> RunReplay:
    verdict, detail = outcome.verdict, outcome.difference or ""
    return RunReplay(
        run_dir=name,
        status="identical" if outcome.identical else "differs",
        detail=detail,
        sha256=verdict.digest,
        snapshots=len(outcome.snapshots),
        seconds=seconds,
        unplayed_requests=outcome.unplayed_requests,
        unplayed_journal=tuple(sorted(outcome.unplayed_journal.items())),
    )


def replay_many(
    paths: Iterable[Path | str], workers: int = 1, check: Check | None = None
) -> Result[tuple[RunReplay, ...], Problem]:
    """Replay every run ``paths`` name (see ``runs_in``), ``workers`` at a time, each in a
    worker process of its own (with one worker, in this process), each outcome checked by
    ``check`` too; the results in the order of ``runs_in``. A Failure when a path is no
    folder or ``workers`` is below 1: nothing is replayed then.

    >>> replay_many(["."], workers=0).failure().message
    '`workers=0` is below 1; give 1 or more'
    """
    if workers < 1:
        return Failure(
            Problem(what=f"`workers={workers}` is below 1", where="workers", fix="give 1 or more")
        )
    one = functools.partial(replay_one, check=check)
    return runs_in(Path(p) for p in paths).map(lambda runs: _replayed(runs, workers, one))


def _replayed(
    runs: tuple[Path, ...], workers: int, one: Callable[[Path], RunReplay]
) -> tuple[RunReplay, ...]:
    if workers == 1 or len(runs) < 2:
        return tuple(one(run) for run in runs)
    with ProcessPoolExecutor(min(workers, len(runs)), mp_context=_context()) as pool:
        return tuple(pool.map(one, runs))


def _context() -> BaseContext:
    """Worker processes forked from a fork server that imported ``PRELOAD`` (safe from a
    process with threads, unlike a plain fork); spawned where there is no fork server."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(PRELOAD))
    return context
