"""Replaying a run folder: each recorded session run again on its cassettes and journal."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from returns.result import Failure, Result, Success

from plancontrol.core.context import Context
from plancontrol.core.errors import ExecutionFailure
from plancontrol.core.phase import Halt
from plancontrol.core.pipeline import PLANNING_AND_CONTROL, Pipeline
from plancontrol.core.ports import EventSink, Execution, Executor, Script, Signals
from plancontrol.core.problem import Problem
from plancontrol.handlers.routes import StructuredMode
from plancontrol.recording.pipelines import recorded_pipeline
from plancontrol.recording.wiring import model_agents, replayed
from plancontrol.runs.folder import (
    Manifest,
    RunOptions,
    Session,
    read_manifest,
    read_sessions,
    session_dir,
)
from plancontrol.runs.journal import Entry, JournalReplay, Saved, read_session_journal
from plancontrol.runs.snapshots import (
    ComparingCheckpoints,
    Verdict,
    compare,
    compare_snapshot,
    decode_snapshot,
    first_difference,
    recorded_context,
)

__all__ = ["ReplayOutcome", "ScriptWatch", "part_label", "replay_part", "replay_run"]


@dataclass(frozen=True)
class ReplayOutcome:
    """What a replay found: the result, each snapshot's comparison, what went unused.

    Names of snapshots and cassettes of sessions after the first carry the session's
    number (``step-03 (session 2)``); a run recorded in one go has plain names.
    """

    result: Result[Context, Halt]
    verdict: Verdict
    snapshots: tuple[tuple[str, str | None], ...]
    drift: tuple[tuple[str, str], ...]
    cassettes_used: tuple[str, ...]
    unplayed_requests: int
    unplayed_journal: dict[str, int]
    cassettes_recorded: tuple[str, ...] = ()
    code_rerun: int = 0
    code_differences: tuple[str, ...] = ()

    @property
    def identical(self) -> bool:
        """The final context and every snapshot are byte for byte the recorded ones."""
        return self.verdict.identical and self.first_difference is None

    @property
    def first_difference(self) -> tuple[str, str] | None:
        """The first snapshot that differs from its recording, and where."""
        return next(((label, where) for label, where in self.snapshots if where), None)

    @property
    def context(self) -> Context:
        """The last context of the replay, finished or stopped."""
        final = self.result.value_or(None)
        return final if final is not None else self.result.failure().context


class _Rerun:
    """Runs each recorded script again (``--rerun-code``) with ``executor`` and notes where
    its result differs from the journal's; the run is still served the journaled result, so
    the replay stays comparable. Installations are never run again."""

    def __init__(self, journal: JournalReplay, executor: Executor) -> None:
        self.journal = journal
        self.executor = executor
        self.runs = 0
        self.differences: list[str] = []

    def run(self, script: Script) -> Result[Execution, ExecutionFailure]:
        recorded = self.journal.run(script)
        again = self.executor.run(script)
        self.runs += 1
        where = first_difference(_as_data(recorded), _as_data(again))
        if where is not None:
            self.differences.append(f"step {script.step} attempt {script.attempt}: {where}")
        return recorded

    def install(self, step: int, packages: tuple[str, ...]) -> Result[Execution, ExecutionFailure]:
        return self.journal.install(step, packages)


def _as_data(result: Result[Execution, ExecutionFailure]) -> object:
    import msgspec

    match result:
        case Success(run):
            return msgspec.to_builtins(run)
        case Failure(error):
            return {"failure": error.detail}
    raise AssertionError("unreachable")  # pragma: no cover


ScriptWatch = Callable[[Script, Result[Execution, ExecutionFailure]], None]
"""Told of each script a replay runs, with the result the journal serves for it."""


class _Watched:
    """Serves what ``inner`` serves, telling ``watch`` of each script and its result."""

    def __init__(self, inner: Executor, watch: ScriptWatch) -> None:
        self.inner = inner
        self.watch = watch

    def run(self, script: Script) -> Result[Execution, ExecutionFailure]:
        result = self.inner.run(script)
        self.watch(script, result)
        return result

    def install(self, step: int, packages: tuple[str, ...]) -> Result[Execution, ExecutionFailure]:
        return self.inner.install(step, packages)


class _StopAfter:
    """Compares snapshots up to ``label``, the last one of a session that stopped without
    finishing; from there on the run is told to stop at its next safe point (as signals),
    and what it does before that is not compared."""

    def __init__(self, inner: ComparingCheckpoints, label: str | None, signals: Signals) -> None:
        self.inner = inner
        self.label = label
        self.signals = signals
        self.reached: Context | None = None

    def save(self, label: str, ctx: Context) -> None:
        if self.reached is not None:
            return
        self.inner.save(label, ctx)
        if label == self.label:
            self.reached = ctx

    def should_continue(self, step: int) -> bool:
        return self.reached is None and self.signals.should_continue(step)


@dataclass
class _Tally:
    """What the sessions replayed so far add up to."""

    snapshots: list[tuple[str, str | None]]
    drift: list[tuple[str, str]]
    cassettes: list[str]
    recorded: list[str]
    unplayed_requests: int = 0
    rerun: tuple[Path, float] | None = None  # rerun_code's scratch folder and timeout
    reruns: int = 0
    code_differences: list[str] = field(default_factory=list)
    on_script: ScriptWatch | None = None
    pipeline: Pipeline = PLANNING_AND_CONTROL  # as the manifest records it


def _named(name: str, session: Session) -> str:
    return name if session.number == 1 else f"{name} (session {session.number})"


_FROM_COPY = "restore it from a copy of the run folder"


def _start(folder: Path, manifest: Manifest, session: Session) -> Result[Context, Problem]:
    path = session_dir(folder, session.number) / "start.json"
    if session.starts_after is None and not path.exists():  # begun from the manifest alone
        return Success(Context(task=manifest.task, settings=manifest.settings))
    try:
        data = path.read_bytes()
    except OSError:
        return Failure(Problem(what=f"{path} is missing", where=str(path), fix=_FROM_COPY))
    found = decode_snapshot(data).map(lambda found: found[1])
    return found.alt(lambda e: Problem(what=f"{path}: {e.message}", where=str(path)))


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


def replay_run(
    run_dir: Path,
    events: EventSink | None = None,
    lenient: bool = False,
    rerun_code: float | None = None,
    pipeline: str | None = None,
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
    recorded. ``pipeline`` (``MODULE:NAME``) names where the recorded pipeline lives now,
    when its module moved.
    """
    import tempfile

    match _read(run_dir, pipeline):
        case Success((manifest, sessions, phases)):
            pass
        case Failure(problem):
            return Failure(problem)
    tally = _Tally([], [], [], [], pipeline=phases)
    scratch = tempfile.TemporaryDirectory(prefix="plancontrol-rerun-")
    tally.rerun = None if rerun_code is None else (Path(scratch.name), rerun_code)
    with scratch:
        return _replay_sessions(run_dir, manifest, sessions, events, lenient, tally)


def _read(
    run_dir: Path, pipeline: str | None
) -> Result[tuple[Manifest, tuple[Session, ...], Pipeline], Problem]:
    """The run's manifest, its sessions and the pipeline it was recorded with, rebuilt."""
    return read_manifest(run_dir).bind(
        lambda manifest: read_sessions(run_dir).bind(
            lambda sessions: recorded_pipeline(manifest.pipeline, pipeline).map(
                lambda phases: (manifest, sessions, phases)
            )
        )
    )


def _scratch_executor(folder: Path, timeout: float, options: RunOptions) -> Executor:
    """Runs a session's recorded scripts again as it ran them: its interpreter, its variables
    (a resume or fork may have changed them)."""
    import sys

    from plancontrol.handlers.executor import SubprocessExecutor

    python = options.python or sys.executable
    return SubprocessExecutor(folder, timeout=timeout, python=python, pass_env=options.pass_env)


def _replay_sessions(
    run_dir: Path,
    manifest: Manifest,
    sessions: tuple[Session, ...],
    events: EventSink | None,
    lenient: bool,
    tally: _Tally,
) -> Result[ReplayOutcome, Problem]:
    """Replay each session in turn (see ``replay_run``)."""
    from plancontrol.core.pipeline import phases_after

    unplayed_journal: dict[str, int] = {}
    outcome: tuple[Result[Context, Halt], Verdict] | None = None
    for session in sessions:
        where = session_dir(run_dir, session.number)
        unfinished = session.status in ("running", "interrupted") or session.ends_after
        started = _start(run_dir, manifest, session)
        journaled = read_session_journal(run_dir, session)
        match started, journaled:
            case Success(start), Success(entries):
                pass
            case _:
                bad = started if isinstance(started, Failure) else journaled
                return Failure(bad.failure())
        stop = (session.ends_after or _last_saved(entries, where)) if unfinished else None
        if unfinished and stop is None:
            continue  # died before its first snapshot: nothing of it to check
        try:
            pipeline = phases_after(tally.pipeline, session.starts_after)
        except ValueError:
            return Failure(Problem(what=f"{where}/session.json starts after an unknown snapshot"))
        played = _replay_session(
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
        match played:
            case Failure(problem):
                return Failure(problem)
            case Success((result, leftover)):
                pass
        if not unfinished:
            for kind, count in leftover.items():
                unplayed_journal[kind] = unplayed_journal.get(kind, 0) + count
        last = result.value_or(None) or result.failure().context
        if stop is None:
            match recorded_context(where / "context.json"):
                case Success(data):
                    from plancontrol.core.context import encode_context

                    outcome = (result, compare(data, encode_context(last)))
                case Failure(problem):
                    return Failure(problem)
        else:
            recorded = (where / "snapshots" / f"{stop}.json").read_bytes()
            outcome = (result, compare_snapshot(recorded, stop, last))
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


def _replay_session(
    run_dir: Path,
    manifest: Manifest,
    session: Session,
    pipeline: Pipeline,
    start: Context,
    entries: tuple[Entry, ...],
    stop: str | None,
    events: EventSink | None,
    lenient: bool,
    tally: _Tally,
    *,
    count_unplayed: bool,
    modes: dict[str, StructuredMode] | None = None,
) -> Result[tuple[Result[Context, Halt], dict[str, int]], Problem]:
    """Replay one session; its comparisons and use of the recording go into ``tally``.
    ``modes``: the structured-output modes settled before it starts (by default, those
    earlier sessions settled)."""
    from plancontrol.core.pipeline import run_pipeline
    from plancontrol.handlers.secrets import Scrubber, secret_values
    from plancontrol.recording.cassettes import CassetteAgents
    from plancontrol.recording.negotiation import modes_before

    where = session_dir(run_dir, session.number)
    journal = JournalReplay(entries)
    options = session.options or manifest.options  # a resume may have changed the models
    executor: Executor | None = None
    if tally.rerun is not None:
        executor = _Rerun(journal, _scratch_executor(*tally.rerun, options))
    if tally.on_script is not None:
        executor = _Watched(executor or journal, tally.on_script)
    snapshots = ComparingCheckpoints(where)
    scrub = Scrubber(secret_values(os.environ)).data
    if modes is None:  # settled by earlier sessions; this one's negotiation replays
        modes = modes_before(run_dir, session.number)
    with model_agents(options.default_route, dict(options.routes), modes) as live:
        agents = CassetteAgents(live, where / "cassettes", "replay", scrub, lenient)
        stopping = _StopAfter(snapshots, stop, journal)
        fx = replayed(
            agents,
            journal,
            executor=executor,
            events=events,
            signals=stopping,
            checkpoints=stopping,
            interpreter=options.interpreter,  # what the code roles were told, as recorded
        )
        result = _ended(run_pipeline(pipeline, start, fx), stopping, journal)
        agents.close()
    if agents.problem is not None:
        return Failure(Problem(what=agents.problem))
    if isinstance(executor, _Rerun):
        tally.reruns += executor.runs
        tally.code_differences.extend(executor.differences)
    tally.snapshots.extend((_named(label, session), diff) for label, diff in snapshots.compared)
    tally.drift.extend((_named(name, session), diff) for name, diff in agents.drift)
    tally.cassettes.extend(_named(name, session) for name in agents.opened)
    on_disk = sorted(p.name for p in (where / "cassettes").glob("*.json"))
    recorded = [*dict.fromkeys(n for n in agents.opened if n in on_disk), *on_disk]
    recorded = list(dict.fromkeys(recorded))  # in the order the run used them, then the rest
    tally.recorded.extend(_named(name, session) for name in recorded)
    if count_unplayed:
        tally.unplayed_requests += agents.unplayed
    return Success((result, journal.unplayed))


def _ended(
    result: Result[Context, Halt], stopping: _StopAfter, journal: JournalReplay
) -> Result[Context, Halt]:
    """How a replayed session ended: where its recording ends (a session that stopped
    without finishing), where it left the journal, or as the run itself ended."""
    if stopping.reached is not None:
        return Success(stopping.reached)
    if journal.diverged is not None:
        stopped = result.failure().context if isinstance(result, Failure) else result.unwrap()
        return Failure(Halt(journal.diverged, stopped))
    return result


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
) -> Result[ReplayOutcome, Problem]:
    """Replay one phase (``"review"``) or one plan step (``"step-02"``, ``"2"``) of the run in
    ``run_dir`` alone, from the snapshot before it, against its own cassette and its part of
    the journal, and compare the snapshot after it with the recorded one. The newest session
    that recorded ``label`` is used. Nothing is written into the folder. ``lenient`` serves
    recorded replies to requests that changed (as ``replay_run``); ``on_script`` is told of
    each script the part runs and the result recorded for it."""
    from plancontrol.core.pipeline import phases_after
    from plancontrol.recording.negotiation import modes_before, modes_in
    from plancontrol.runs.journal import Ticked
    from plancontrol.runs.resume import load_saved

    match _read(run_dir, pipeline):
        case Success((manifest, sessions, phases)):
            pass
        case Failure(problem):
            return Failure(problem)
    given, label = label, part_label(label)
    ran: list[str] = []  # the parts recorded, newest session first
    for session in reversed(sessions):
        where = session_dir(run_dir, session.number)
        match read_session_journal(run_dir, session):
            case Failure(problem):
                return Failure(problem)
            case Success(entries):
                pass
        marks = [(i, e) for i, e in enumerate(entries) if isinstance(e, Saved)]
        found = [i for i, e in marks if e.label == label]
        if found:
            break
        ran[:0] = [e.label for _, e in marks]
    else:
        names = ", ".join(dict.fromkeys(ran)) or "none yet"
        return Failure(
            Problem(
                what=f"{run_dir} has no part {given!r}",
                where=given,
                fix=f"name one it recorded: {names} (a step also by its number, e.g. 1)",
            )
        )
    end = found[-1]
    # a step starts after the snapshot before it; a phase after the previous phase's
    before = [
        (i, e)
        for i, e in marks
        if i < end and (label.startswith("step-") or not e.label.startswith("step-"))
    ]
    loaded: Result[Context, Problem]
    if before:
        previous: str | None = before[-1][1].label
        loaded = load_saved(run_dir, session, before[-1][1])
        first = before[-1][0] + 1
    else:
        previous = session.starts_after
        loaded = _start(run_dir, manifest, session)
        first = 0
    if isinstance(loaded, Failure):
        return Failure(loaded.failure())
    # the pipeline's own clock readings made before the slice: its start, and the control
    # phase's start when the part begins after a step
    lead = 0 if first == 0 else 1 + bool(previous and previous.startswith("step-"))
    part = (*(Ticked(0.0) for _ in range(lead)), *entries[first : end + 1])
    tally = _Tally([], [], [], [], on_script=on_script, pipeline=phases)
    played = _replay_session(
        run_dir,
        manifest,
        session,
        phases_after(phases, previous),
        loaded.unwrap(),
        part,
        label,
        events,
        lenient,
        tally,
        count_unplayed=True,
        modes=modes_before(run_dir, session.number) | modes_in(entries[:first]),
    )
    match played:
        case Failure(problem):
            return Failure(problem)
        case Success((result, leftover)):
            pass
    last = result.value_or(None) or result.failure().context
    recorded = (where / "snapshots" / f"{label}.json").read_bytes()
    return Success(
        ReplayOutcome(
            result=result,
            verdict=compare_snapshot(recorded, label, last),
            snapshots=tuple(tally.snapshots),
            drift=tuple(tally.drift),
            cassettes_used=tuple(tally.cassettes),
            unplayed_requests=tally.unplayed_requests,
            unplayed_journal={k: n for k, n in leftover.items() if k != "Saved"},
        )
    )
