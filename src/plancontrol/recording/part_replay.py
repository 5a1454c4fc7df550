"""Replaying one part of a run alone: a phase or a plan step, from the snapshot before it."""

from __future__ import annotations

from pathlib import Path

from returns.result import Failure, Result, Success

from plancontrol.core.context import Context
from plancontrol.core.phase import Halt
from plancontrol.core.ports import EventSink
from plancontrol.core.problem import Problem
from plancontrol.recording.rerun import ScriptWatch
from plancontrol.recording.session_replay import (
    ReplayOutcome,
    Tally,
    read_run,
    replay_session,
    start_of,
)
from plancontrol.recording.wiring import Tools
from plancontrol.runs.folder import Manifest, Session, session_dir
from plancontrol.runs.journal import Entry, Saved, read_session_journal
from plancontrol.runs.snapshots import SnapshotFiles, compare_recorded

__all__ = ["part_label", "replay_part"]


def part_label(name: str) -> str:
    """The snapshot label a part of a run is named by: ``2``, ``step-2`` and ``step-02`` all
    name plan step 2; a phase is named as it is.

    >>> [part_label(name) for name in ("2", "step-2", "step-02", "review")]
    ['step-02', 'step-02', 'step-02', 'review']
    """
    number = name.strip().removeprefix("step-")
    if number.isascii() and number.isdigit():
        return f"step-{int(number):02d}"
    return name.strip()


def replay_part(
    run_dir: Path,
    label: str,
    events: EventSink | None = None,
    *,
    lenient: bool = False,
    on_script: ScriptWatch | None = None,
    pipeline: str | None = None,
    tools: Tools | None = None,
) -> Result[ReplayOutcome, Problem]:
    """Replay one phase (``"review"``) or one plan step (``"step-02"``, ``"2"``) of the run in
    ``run_dir`` alone, from the snapshot before it, against its own cassette and its part of
    the journal, and compare the snapshot after it with the recorded one. The newest session
    that recorded ``label`` is used. Nothing is written into the folder. ``lenient`` serves
    recorded replies to requests that changed (as ``replay_run``); ``on_script`` is told of
    each script the part runs and the result recorded for it; ``tools`` as ``replay_run``
    takes them."""
    from plancontrol.core.pipeline import phases_after
    from plancontrol.recording.negotiation import modes_before, modes_in

    match read_run(run_dir, pipeline):
        case Success((manifest, sessions, phases)):
            pass
        case Failure(problem):
            return Failure(problem)
    given, label = label, part_label(label)
    match _newest_with(run_dir, sessions, label, given):
        case Failure(problem):
            return Failure(problem)
        case Success((session, entries, marks)):
            pass
    match _before(run_dir, manifest, session, marks, label):
        case Failure(problem):
            return Failure(problem)
        case Success((previous, start, first)):
            pass
    part = _part(entries, first, max(i for i, e in marks if e.label == label), previous)
    tally = Tally([], [], [], [], on_script=on_script, pipeline=phases, tools=tools)
    played = replay_session(
        run_dir,
        manifest,
        session,
        phases_after(phases, previous),
        start,
        part,
        label,
        events,
        lenient,
        tally,
        count_unplayed=True,
        modes=modes_before(run_dir, session.number) | modes_in(entries[:first]),
    )
    return played.map(lambda ended: _outcome(run_dir, session, label, tally, *ended))


_Marks = list[tuple[int, Saved]]
"""A session's journaled snapshots, each with its place in the journal."""


def _marks(entries: tuple[Entry, ...]) -> _Marks:
    return [(i, e) for i, e in enumerate(entries) if isinstance(e, Saved)]


def _newest_with(
    run_dir: Path, sessions: tuple[Session, ...], label: str, given: str
) -> Result[tuple[Session, tuple[Entry, ...], _Marks], Problem]:
    """The newest session that recorded ``label``, its journal and the snapshots in it."""
    ran: list[str] = []  # the parts recorded, newest session first
    for session in reversed(sessions):
        match read_session_journal(run_dir, session):
            case Failure(problem):
                return Failure(problem)
            case Success(entries):
                pass
        marks = _marks(entries)
        if any(e.label == label for _, e in marks):
            return Success((session, entries, marks))
        ran[:0] = [e.label for _, e in marks]
    names = ", ".join(dict.fromkeys(ran)) or "none yet"
    return Failure(
        Problem(
            what=f"{run_dir} has no part {given!r}",
            where=given,
            fix=f"name one it recorded: {names} (a step also by its number, e.g. 1)",
        )
    )


def _before(
    run_dir: Path, manifest: Manifest, session: Session, marks: _Marks, label: str
) -> Result[tuple[str | None, Context, int], Problem]:
    """Where the part ``label`` starts: the snapshot before it (None for the session's
    start), the context there, and the first journal entry of the part."""
    from plancontrol.runs.resume import load_saved

    end = max(i for i, e in marks if e.label == label)
    # a step starts after the snapshot before it; a phase after the previous phase's
    before = [
        (i, e)
        for i, e in marks
        if i < end and (label.startswith("step-") or not e.label.startswith("step-"))
    ]
    if before:
        index, saved = before[-1]
        return load_saved(run_dir, session, saved).map(lambda ctx: (saved.label, ctx, index + 1))
    started = start_of(run_dir, manifest, session)
    return started.map(lambda ctx: (session.starts_after, ctx, 0))


def _part(
    entries: tuple[Entry, ...], first: int, end: int, previous: str | None
) -> tuple[Entry, ...]:
    """The journal entries ``first`` to ``end`` of a part that starts after the snapshot
    ``previous``, led by the pipeline's own clock readings made before the slice: its start,
    and the control phase's start when the part begins after a step."""
    from plancontrol.runs.journal import Ticked

    lead = 0 if first == 0 else 1 + bool(previous and previous.startswith("step-"))
    return (*(Ticked(0.0) for _ in range(lead)), *entries[first : end + 1])


def _outcome(
    run_dir: Path,
    session: Session,
    label: str,
    tally: Tally,
    result: Result[Context, Halt],
    leftover: dict[str, int],
) -> ReplayOutcome:
    """What replaying the part ``label`` found, its snapshot compared with the recorded one."""
    last = result.value_or(None) or result.failure().context
    recorded = SnapshotFiles(session_dir(run_dir, session.number))
    return ReplayOutcome(
        result=result,
        verdict=compare_recorded(recorded, label, last),
        snapshots=tuple(tally.snapshots),
        drift=tuple(tally.drift),
        cassettes_used=tuple(tally.cassettes),
        unplayed_requests=tally.unplayed_requests,
        unplayed_journal={k: n for k, n in leftover.items() if k != "Saved"},
    )
