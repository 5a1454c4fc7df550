"""The files a run left in its folder, journaled by hash, and checked again by replay."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from returns.result import Failure, Success

from plancontrol.core.context import Context
from plancontrol.runs.entries import Wrote
from plancontrol.runs.folder import Session
from plancontrol.runs.journal import read_session_journal
from plancontrol.runs.resume import WORK
from plancontrol.runs.snapshots import digest

__all__ = ["EXPORTS", "changed_files", "rerun_differences", "written"]

EXPORTS = ("plan.json", "context.json", "report.md")
"""The files a session writes at the top of the run folder."""


def _found(folder: Path, name: str) -> str | None:
    """``name`` as a path in the run folder: as it is, or in the scripts' work folder."""
    for path in (name, f"{WORK}/{name}"):
        if (folder / path).is_file():
            return path
    return None


def written(folder: Path, ctx: Context) -> tuple[Wrote, ...]:
    """What a session that ended with ``ctx`` left: its exports and every file its steps
    produced (each once), with their hashes now."""
    names = [*EXPORTS, *(name for outcome in ctx.outcomes for name in outcome.files)]
    paths = dict.fromkeys(p for p in (_found(folder, n) for n in names) if p is not None)
    return tuple(Wrote(path, digest((folder / path).read_bytes())) for path in paths)


def _latest(folder: Path, sessions: Iterable[Session]) -> dict[str, str]:
    """Each file's latest journaled hash, by its path in the run folder."""
    latest: dict[str, str] = {}
    for session in sessions:
        if session.ends_after:  # a fork's copy of the original, cut at the fork: its files
            continue  # from after the cut are not this run's
        match read_session_journal(folder, session):
            case Success(entries):
                latest |= {e.path: e.sha256 for e in entries if isinstance(e, Wrote)}
            case Failure():
                continue  # a damaged journal is the replay's own refusal to make
    return latest


def changed_files(folder: Path, sessions: Iterable[Session]) -> tuple[tuple[str, str], ...]:
    """Each file whose latest journaled hash the folder no longer holds: (path, what)."""
    changed = []
    for path, sha in _latest(folder, sessions).items():
        target = folder / path
        if not target.is_file():
            changed.append((path, "missing"))
        elif digest(target.read_bytes()) != sha:
            changed.append((path, "its bytes differ from the ones recorded"))
    return tuple(changed)


def rerun_differences(scratch: Path, folder: Path, sessions: Iterable[Session]) -> list[str]:
    """Where the scripts run again in ``scratch`` left other files than the recorded run
    left in its work folder: each file of it the journal holds, by path."""
    differences = []
    for path, sha in _latest(folder, sessions).items():
        name = path.removeprefix(f"{WORK}/")
        if name == path:
            continue  # an export or a report, not a script's file
        made = scratch / name
        if not made.is_file():
            differences.append(f"{path}: the scripts run again did not make it")
        elif digest(made.read_bytes()) != sha:
            differences.append(f"{path}: the scripts run again left other bytes")
    return differences
