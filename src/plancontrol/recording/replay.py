"""Replaying a run folder: each recorded session run again on its cassettes and journal."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from returns.result import Failure, Result, Success

from plancontrol.core.context import Context
from plancontrol.core.phase import Halt
from plancontrol.core.ports import EventSink
from plancontrol.core.problem import Problem
from plancontrol.recording.files import changed_files, rerun_differences
from plancontrol.recording.part_replay import part_label, replay_part
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
from plancontrol.runs.snapshots import (
    SnapshotFiles,
    Verdict,
    compare,
    compare_recorded,
    recorded_context,
)

__all__ = ["ReplayOutcome", "ScriptWatch", "part_label", "replay_part", "replay_run"]


def replay_run(
    run_dir: Path,
    events: EventSink | None = None,
    lenient: bool = False,
    rerun_code: float | None = None,
    pipeline: str | None = None,
    tools: Tools | None = None,
) -> Result[ReplayOutcome, Problem]:
    """Run the recording in ``run_dir`` again with no network and no code execution: model
    replies from its cassettes (fail-closed), scripts' results, clock readings and decisions
    from its journal, session by session. Nothing is written into the folder. A Failure says
    in one line why the folder cannot be replayed (not a run folder, a missing or damaged
    file). ``lenient`` serves the recorded reply in place of a request that no longer matches
    (noting it in ``drift``), so that every step is checked.

    A session that stopped without finishing (killed, or Ctrl-C) is replayed up to its last
    snapshot; a finished one to its end, and its last context compared with the recorded one.

    ``rerun_code`` (a timeout in seconds) runs every recorded script again, in order, in a
    scratch folder, and reports in ``code_differences`` where a result differs from the one
    recorded, and each file of the work folder the scripts run again left otherwise.
    ``pipeline`` (``MODULE:NAME``) names where the recorded pipeline lives now,
    when its module moved. ``tools`` are the roles' tools the run was given: their calls are
    answered from the journal, never made (a run whose tools were called needs them).
    """
    import tempfile

    match read_run(run_dir, pipeline):
        case Success((manifest, sessions, phases)):
            pass
        case Failure(problem):
            return Failure(problem)
    tally = Tally([], [], [], [], pipeline=phases, tools=tools)
    scratch = tempfile.TemporaryDirectory(prefix="plancontrol-rerun-")
    tally.rerun = None if rerun_code is None else (Path(scratch.name), rerun_code)
    with scratch:
        replayed = _replay_sessions(run_dir, manifest, sessions, events, lenient, tally)
        made = rerun_differences(Path(scratch.name), run_dir, sessions) if tally.rerun else []
    files = changed_files(run_dir, sessions)
    return replayed.map(
        lambda outcome: dataclasses.replace(
            outcome,
            changed_files=files,
            code_differences=(*outcome.code_differences, *made),
        )
    )


_Checked = tuple[Result[Context, Halt], Verdict, dict[str, int]]
"""A replayed session's result, its last context compared with the recorded one, and what
it left of its journal (nothing counted for a session that stopped without finishing)."""


def _replay_sessions(
    run_dir: Path,
    manifest: Manifest,
    sessions: tuple[Session, ...],
    events: EventSink | None,
    lenient: bool,
    tally: Tally,
) -> Result[ReplayOutcome, Problem]:
    """Replay each session in turn (see ``replay_run``)."""
    unplayed_journal: dict[str, int] = {}
    outcome: tuple[Result[Context, Halt], Verdict] | None = None
    for session in sessions:
        match _replay_recorded(run_dir, manifest, session, events, lenient, tally):
            case Failure(problem):
                return Failure(problem)
            case Success(None):
                continue  # died before its first snapshot: nothing of it to check
            case Success((result, verdict, leftover)):
                outcome = (result, verdict)
        for kind, count in leftover.items():
            unplayed_journal[kind] = unplayed_journal.get(kind, 0) + count
    if outcome is None:
        return Failure(
            Problem(what=f"{run_dir} holds no snapshot yet: the run stopped before any phase ended")
        )
    return Success(
        ReplayOutcome(
            result=outcome[0],
            verdict=outcome[1],
            snapshots=tuple(tally.snapshots),
            drift=tuple(tally.drift),
            cassettes_used=tuple(tally.cassettes),
            unplayed_requests=tally.unplayed_requests,
            unplayed_journal=unplayed_journal,
            cassettes_recorded=tuple(tally.recorded),
            code_rerun=tally.reruns,
            code_differences=tuple(tally.code_differences),
        )
    )


def _replay_recorded(
    run_dir: Path,
    manifest: Manifest,
    session: Session,
    events: EventSink | None,
    lenient: bool,
    tally: Tally,
) -> Result[_Checked | None, Problem]:
    """Replay ``session`` as far as it was recorded and compare where it ended; None for a
    session that stopped before its first snapshot."""
    from plancontrol.core.pipeline import phases_after

    where = session_dir(run_dir, session.number)
    unfinished = session.status in ("running", "interrupted") or session.ends_after
    started = start_of(run_dir, manifest, session)
    journaled = read_session_journal(run_dir, session)
    match started, journaled:
        case Success(start), Success(entries):
            pass
        case _:
            bad = started if isinstance(started, Failure) else journaled
            return Failure(bad.failure())
    stop = (session.ends_after or _last_saved(entries, where)) if unfinished else None
    if unfinished and stop is None:
        return Success(None)
    try:
        pipeline = phases_after(tally.pipeline, session.starts_after)
    except ValueError:
        return Failure(Problem(what=f"{where}/session.json starts after an unknown snapshot"))
    played = replay_session(
        run_dir,
        manifest,
        session,
        pipeline,
        start,
        entries,
        stop,
        events,
        lenient,
        tally,
        count_unplayed=stop is None,
    )
    return played.bind(lambda ended: _compared(where, stop, *ended))


def _compared(
    where: Path, stop: str | None, result: Result[Context, Halt], leftover: dict[str, int]
) -> Result[_Checked, Problem]:
    """Where a replayed session ended compared with its recording: the snapshot ``stop`` of
    a session that stopped without finishing, else its recorded last context."""
    from plancontrol.core.context import encode_context

    last = result.value_or(None) or result.failure().context
    if stop is not None:
        return Success((result, compare_recorded(SnapshotFiles(where), stop, last), {}))
    compared = recorded_context(where / "context.json").map(
        lambda data: compare(data, encode_context(last))
    )
    return compared.map(lambda verdict: (result, verdict, leftover))


def _last_saved(entries: tuple[Entry, ...], where: Path) -> str | None:
    """The last snapshot the session wrote (one journaled but never written is passed over)."""
    return next(
        (
            e.label
            for e in reversed(entries)
            if isinstance(e, Saved) and (where / "snapshots" / f"{e.label}.json").is_file()
        ),
        None,
    )
