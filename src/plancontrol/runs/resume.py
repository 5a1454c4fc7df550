"""Where a stopped run goes on: the checked snapshot a resume or a fork starts from."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
from msgspec.structs import replace
from pyrsistent import pmap
from returns.result import Failure, Result, Success

from plancontrol.core.context import Context, StepOutcome, decode_context
from plancontrol.core.plan import Plan
from plancontrol.core.problem import Problem
from plancontrol.core.settings import load_settings
from plancontrol.core.variables import parse_sets
from plancontrol.runs.folder import (
    FORMAT,
    Manifest,
    Session,
    claim,
    read_manifest,
    read_sessions,
    save_manifest,
    session_dir,
    write_session,
)
from plancontrol.runs.journal import Saved, read_session_journal
from plancontrol.runs.landmarks import first_start, last_phase, phase_before_steps
from plancontrol.runs.lock import LOCK
from plancontrol.runs.snapshots import SnapshotFiles, decode_snapshot, digest

__all__ = [
    "StartPoint",
    "already_there",
    "edit_context",
    "latest_saved",
    "load_saved",
    "prepare_fork",
    "start_point",
    "suggested_call",
]

RECORDS = ("manifest.json", "sessions", "context.json", "plan.json", "report.md", "report.html")
"""What in a run folder is the record of the run rather than the work of its steps."""

WORK = "work"
"""The scripts' folder in a run folder: their working directory, all they may write to."""


@dataclass(frozen=True)
class StartPoint:
    """A run's snapshot to start from (``label`` None: from scratch), and where it was."""

    manifest: Manifest
    sessions: tuple[Session, ...]
    session: int
    label: str | None
    context: Context

    @property
    def plan(self) -> Plan | None:
        """The plan at that point (None before planning ended)."""
        return self.context.plan


def _saved(folder: Path, session: Session) -> Result[list[Saved], Problem]:
    entries = read_session_journal(folder, session)
    return entries.map(lambda es: [e for e in es if isinstance(e, Saved)])


def load_saved(folder: Path, session: Session, saved: Saved) -> Result[Context, Problem]:
    """The snapshot ``saved`` refers to, checked against the digest journaled with it."""
    files = SnapshotFiles(session_dir(folder, session.number))
    path = files.path(saved.label)
    match files.read(saved.label):
        case Failure(problem):
            return Failure(problem)
        case Success(data):
            pass
    if digest(data) != saved.sha256:
        return Failure(
            Problem(
                what=(
                    f"{path} is not the snapshot that was recorded (cut short or edited by "
                    "hand: its sha256 differs from the journal's)"
                ),
                where=str(path),
                fix=(
                    "restore it from a copy (to change a variable or a setting, give `sets` to "
                    "resume or fork rather than editing a snapshot)"
                ),
            )
        )
    match decode_snapshot(data):
        case Success((label, ctx)) if label == saved.label:
            return Success(ctx)
        case Success((label, _)):
            return Failure(_copy(path, f"{path} holds the snapshot {label!r}"))
        case Failure(problem):
            return Failure(_copy(path, f"{path}: {problem.message}"))
    raise AssertionError("unreachable")  # pragma: no cover


def _copy(path: Path, what: str) -> Problem:
    return Problem(what=what, where=str(path), fix="restore it from a copy")


def latest_saved(
    folder: Path, sessions: tuple[Session, ...]
) -> Result[tuple[int, Saved] | None, Problem]:
    """The last snapshot written, newest session first; a session's last journaled snapshot
    whose file never appeared (killed while writing it) is passed over."""
    for session in reversed(sessions):
        match _saved(folder, session):
            case Failure(problem):
                return Failure(problem)
            case Success(saved):
                pass
        where = session_dir(folder, session.number) / "snapshots"
        if (
            saved
            and not (where / f"{saved[-1].label}.json").exists()
            and (session.status in ("running", "interrupted"))
        ):
            saved = saved[:-1]
        labels = [s.label for s in saved]
        if session.ends_after in labels:
            saved = saved[: 1 + labels.index(session.ends_after)]
        if saved:
            return Success((session.number, saved[-1]))
    return Success(None)


def _find(
    folder: Path, sessions: tuple[Session, ...], label: str
) -> Result[tuple[int, Saved], Problem]:
    """The newest snapshot called ``label``."""
    for session in reversed(sessions):
        match _saved(folder, session):
            case Failure(problem):
                return Failure(problem)
            case Success(saved):
                found = [s for s in saved if s.label == label]
                if found:
                    return Success((session.number, found[-1]))
    return Failure(Problem(what=f"{folder} has no snapshot {label!r}", where=str(folder)))


def start_point(folder: Path, from_step: int | None = None) -> Result[StartPoint, Problem]:
    """Where ``plancontrol resume`` continues the run in ``folder``: after its last snapshot,
    or (``from_step`` K) after step K-1, so that steps before K are not run again and their
    summaries reach step K. Every problem is a one-line Failure, and nothing is written."""
    match _run_read(folder):
        case Success((manifest, sessions)):
            pass
        case Failure(problem):
            return Failure(problem)
    match latest_saved(folder, sessions):
        case Failure(problem):
            return Failure(problem)
        case Success(None):
            if from_step is not None:
                return Failure(_unplanned(folder))
            fresh = first_start(folder, manifest)
            return fresh.map(lambda ctx: StartPoint(manifest, sessions, len(sessions), None, ctx))
        case Success((number, saved)):
            pass
    latest = load_saved(folder, sessions[number - 1], saved)
    if isinstance(latest, Failure):
        return Failure(latest.failure())
    if from_step is not None:
        return _before_step(folder, manifest, sessions, saved, latest.unwrap(), from_step)
    if saved.label == last_phase(manifest):
        return Failure(_ran_to_the_end(folder, latest.unwrap()))
    return Success(StartPoint(manifest, sessions, number, saved.label, latest.unwrap()))


def _run_read(folder: Path) -> Result[tuple[Manifest, tuple[Session, ...]], Problem]:
    """The run's manifest and sessions; a damaged journal is refused, even one no longer
    needed."""
    match read_manifest(folder).bind(lambda m: read_sessions(folder).map(lambda s: (m, s))):
        case Success((manifest, sessions)):
            pass
        case Failure(problem):
            return Failure(problem)
    for session in sessions:
        journal = read_session_journal(folder, session)
        if isinstance(journal, Failure):
            return Failure(journal.failure())
    return Success((manifest, sessions))


def _ran_to_the_end(folder: Path, last: Context) -> Problem:
    """Why a run that ran to the end has nothing to resume, and what to do instead."""
    k = last.plan.n_steps if last.plan is not None else 1
    return Problem(
        what=f"{folder} ran to the end; nothing to resume: run step {k} again with "
        f"{suggested_call('resume', folder, from_step=k)}, or branch it there with "
        f"{suggested_call('fork', folder, from_step=k, into=_free(folder))}",
        where=str(folder),
    )


def _before_step(
    folder: Path,
    manifest: Manifest,
    sessions: tuple[Session, ...],
    saved: Saved,
    latest: Context,
    from_step: int,
) -> Result[StartPoint, Problem]:
    """Where a resume ``from_step`` K continues: after step K-1 (after approval for K = 1),
    refused when the plan has no step K or a step before it did not complete."""
    plan = latest.plan
    if plan is None or saved.label in ("plan", "review"):
        return Failure(_unplanned(folder))
    if not 1 <= from_step <= plan.n_steps:
        return Failure(
            Problem(
                what=f"`from_step={from_step}` is out of range: the plan in {folder} has "
                f"{plan.n_steps} step(s)",
                where="from_step",
                fix=f"pick a step from 1 to {plan.n_steps}",
            )
        )
    label = phase_before_steps(manifest) if from_step == 1 else f"step-{from_step - 1:02d}"
    if label is None:  # the steps phase comes first: step 1 starts where the run began
        begun = first_start(folder, manifest)
        return begun.map(lambda ctx: StartPoint(manifest, sessions, 1, None, ctx))
    match _find(folder, sessions, label).bind(
        lambda found: load_saved(folder, sessions[found[0] - 1], found[1]).map(
            lambda ctx: (found[0], ctx)
        )
    ):
        case Failure(problem):
            return Failure(problem)
        case Success((number, ctx)):
            pass
    missing = [n for n in range(1, from_step) if n not in ctx.completed_steps]
    if missing:
        return Failure(
            Problem(
                what=f"step {missing[0]} of {folder} did not complete",
                where="from_step",
                fix=f"resume from it: {suggested_call('resume', folder, from_step=missing[0])}",
            )
        )
    return Success(StartPoint(manifest, sessions, number, label, ctx))


def suggested_call(command: str, folder: Path, **arguments: object) -> str:
    """A call to suggest, as library messages name one (the CLI words it as a command that
    works as printed: ``plancontrol.app.cli.wording.as_flags``).

    >>> suggested_call("fork", Path("my run"), from_step=2, into="my run-fork")
    "`fork(run_dir='my run', from_step=2, into='my run-fork')`"
    """
    import shlex

    given = [f"run_dir={shlex.quote(str(folder))}"]
    given += [f"{name}={shlex.quote(str(value))}" for name, value in arguments.items()]
    return f"`{command}({', '.join(given)})`"


def _unplanned(folder: Path) -> Problem:
    again = suggested_call("resume", folder)
    return Problem(
        what=f"{folder} has no approved plan yet",
        where="from_step",
        fix=f"resume it without `from_step`: {again}",
    )


def _free(folder: Path) -> str:
    """A folder beside ``folder`` that a fork of it may take: none there yet."""
    name = f"{folder}-fork"
    n = 1
    while Path(name).exists():
        n += 1
        name = f"{folder}-fork-{n}"
    return name


def edit_context(
    ctx: Context,
    step: int,
    sets: tuple[str, ...],
    instructions: str | None,
    settings: Mapping[str, Any] | None = None,
) -> Result[Context, Problem]:
    """``ctx`` with ``settings`` (by name) changed, then ``--set KEY=VALUE`` applied
    (``settings.NAME=…`` changes a setting, any other key a shared variable), and
    ``instructions`` added to step ``step``'s bullet points."""
    match parse_sets(sets):
        case Failure(invalid):
            return Failure(Problem(what=invalid.detail, where="sets"))
        case Success((changed, shared)):
            variables = {**ctx.variables, **shared}
            knobs = {**msgspec.to_builtins(ctx.settings), **(settings or {}), **changed}
    loaded = load_settings(knobs)
    if isinstance(loaded, Failure):
        return Failure(Problem(what=loaded.failure().message, where="settings"))
    ctx = replace(ctx, settings=loaded.unwrap(), variables=pmap(variables))
    if instructions and ctx.plan is not None:
        steps = list(ctx.plan.steps)
        old = steps[step - 1]
        try:
            steps[step - 1] = msgspec.convert(
                {**msgspec.to_builtins(old), "bullet_points": [*old.bullet_points, instructions]},
                type(old),
            )
        except msgspec.ValidationError as exc:
            return Failure(
                Problem(
                    what=f"`instructions` cannot be added to step {step}: {exc}",
                    where="instructions",
                )
            )
        ctx = replace(ctx, plan=Plan(tuple(steps)))
    return Success(ctx)


def already_there(into: Path) -> Problem:
    """The refusal of a fork into a folder that holds files."""
    return Problem(
        what=f"{into} already exists and is not empty", where=str(into), fix="choose another `into`"
    )


def prepare_fork(point: StartPoint, folder: Path, into: Path, step: int) -> Result[None, Problem]:
    """Make ``into`` a copy of the run in ``folder`` up to ``point``: its manifest (marked as
    a fork), the sessions that lead to the point (the last one ending there) and the work
    files of the steps before ``step``. The fork's own session is recorded afterwards."""
    if not claim(into):
        return Failure(already_there(into))
    latest = _latest_outcomes(folder)
    later = {f for o in latest if o.step >= step for f in o.files}
    later |= {f"codebase/step_{o.step}.py" for o in latest if o.step >= step}
    later |= {f".plancontrol/kept/step_{o.step}" for o in latest if o.step >= step}

    def of_later_steps(where: str, names: list[str]) -> list[str]:
        """Files of steps from ``step`` on: the fork makes its own (``files`` of an outcome
        are relative to the work folder for scripts, to the run folder for reports)."""
        base = Path(where)
        return [
            n
            for n in names
            if (base / n).relative_to(folder).as_posix() in later
            or (
                (base / n).is_relative_to(folder / WORK)
                and (base / n).relative_to(folder / WORK).as_posix() in later
            )
        ]

    for item in sorted(folder.iterdir()):
        if item.name in RECORDS or item.name == LOCK:  # a lock is its writer's, not the run's
            continue
        if item.is_dir():
            shutil.copytree(item, into / item.name, ignore=of_later_steps)
        elif item.name not in later:
            shutil.copy2(item, into / item.name)
    for session in point.sessions[: point.session]:
        shutil.copytree(session_dir(folder, session.number), session_dir(into, session.number))
    last = point.sessions[point.session - 1]
    write_session(into, replace(last, ends_after=point.label))
    forked = replace(point.manifest, forked_from=str(folder.resolve()), fork_step=step)
    save_manifest(into, replace(forked, format=FORMAT))  # copied format-3 sessions read as 4
    return Success(None)


def _latest_outcomes(folder: Path) -> tuple[StepOutcome, ...]:
    try:
        data = (folder / "context.json").read_bytes()
    except OSError:
        return ()
    return tuple(decode_context(data).map(lambda c: c.outcomes).value_or(()))
