"""Replaying one recorded session on its cassettes and journal, and what a replay found."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from returns.result import Failure, Result, Success

from plancontrol.core.context import Context
from plancontrol.core.phase import Halt
from plancontrol.core.pipeline import PLANNING_AND_CONTROL, Pipeline
from plancontrol.core.ports import EventSink, Executor, Signals
from plancontrol.core.problem import Problem
from plancontrol.handlers.routes import StructuredMode
from plancontrol.recording.pipelines import recorded_pipeline
from plancontrol.recording.rerun import Rerun, ScriptWatch, Watched, scratch_executor
from plancontrol.recording.wiring import Tools, model_agents, replayed, served_tools
from plancontrol.runs.folder import (
    Manifest,
    RunOptions,
    Session,
    read_manifest,
    read_sessions,
    session_dir,
)
from plancontrol.runs.journal import Entry, JournalReplay, Tooled
from plancontrol.runs.snapshots import ComparingCheckpoints, Verdict, decode_snapshot

if TYPE_CHECKING:
    from plancontrol.recording.cassettes import CassetteAgents

__all__ = ["ReplayOutcome", "Tally", "named", "read_run", "replay_session", "start_of"]


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
    changed_files: tuple[tuple[str, str], ...] = ()
    """Files the run left whose bytes are no longer the journaled ones: (path, what)."""

    @property
    def identical(self) -> bool:
        """The final context, every snapshot and every file the run left are byte for byte
        the recorded ones."""
        return self.verdict.identical and self.first_difference is None and not self.changed_files

    @property
    def difference(self) -> str | None:
        """Where the replay first differs, in words (None when identical)."""
        first = self.first_difference
        if first is not None:
            return f"first in snapshot {first[0]} at {first[1]}"
        if not self.verdict.identical:
            return f"at {self.verdict.difference}"
        if self.changed_files:
            path, what = self.changed_files[0]
            return f"in the file {path}: {what}"
        return None

    @property
    def first_difference(self) -> tuple[str, str] | None:
        """The first snapshot that differs from its recording, and where."""
        return next(((label, where) for label, where in self.snapshots if where), None)

    @property
    def context(self) -> Context:
        """The last context of the replay, finished or stopped."""
        final = self.result.value_or(None)
        return final if final is not None else self.result.failure().context


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
class Tally:
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
    tools: Tools | None = None  # the roles' tools, their calls served from the journal


def named(name: str, session: Session) -> str:
    """``name`` (a snapshot's, a cassette's) as a replay reports it for ``session``."""
    return name if session.number == 1 else f"{name} (session {session.number})"


_FROM_COPY = "restore it from a copy of the run folder"


def start_of(folder: Path, manifest: Manifest, session: Session) -> Result[Context, Problem]:
    """The context ``session`` started from: its start.json, or the manifest's task."""
    path = session_dir(folder, session.number) / "start.json"
    if session.starts_after is None and not path.exists():  # begun from the manifest alone
        return Success(Context(task=manifest.task, settings=manifest.settings))
    try:
        data = path.read_bytes()
    except OSError:
        return Failure(Problem(what=f"{path} is missing", where=str(path), fix=_FROM_COPY))
    found = decode_snapshot(data).map(lambda found: found[1])
    return found.alt(lambda e: Problem(what=f"{path}: {e.message}", where=str(path)))


def read_run(
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


def replay_session(
    run_dir: Path,
    manifest: Manifest,
    session: Session,
    pipeline: Pipeline,
    start: Context,
    entries: tuple[Entry, ...],
    stop: str | None,
    events: EventSink | None,
    lenient: bool,
    tally: Tally,
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
    untooled = _untooled(where, entries, tally.tools)
    if untooled is not None:
        return Failure(untooled)
    journal = JournalReplay(entries)
    options = session.options or manifest.options  # a resume may have changed the models
    executor = _executor(journal, options, tally)
    snapshots = ComparingCheckpoints(where)
    scrub = Scrubber(secret_values(os.environ)).data
    if modes is None:  # settled by earlier sessions; this one's negotiation replays
        modes = modes_before(run_dir, session.number)
    served = served_tools(journal)  # the roles' tool calls answered, never made
    with model_agents(
        options.default_route, dict(options.routes), modes, None, tally.tools, served
    ) as live:
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
    _tally_up(tally, session, executor, snapshots, agents, count_unplayed=count_unplayed)
    return Success((result, journal.unplayed))


def _executor(journal: JournalReplay, options: RunOptions, tally: Tally) -> Executor | None:
    """What runs a replayed session's scripts in place of its journal, if anything: the
    scripts run again (``rerun_code``), the served results watched (``on_script``)."""
    executor: Executor | None = None
    if tally.rerun is not None:
        executor = Rerun(journal, scratch_executor(*tally.rerun, options))
    if tally.on_script is not None:
        executor = Watched(executor or journal, tally.on_script)
    return executor


def _tally_up(
    tally: Tally,
    session: Session,
    executor: Executor | None,
    snapshots: ComparingCheckpoints,
    agents: CassetteAgents,
    *,
    count_unplayed: bool,
) -> None:
    """Add to ``tally`` what a replayed session found: its scripts run again, its snapshots
    compared, what it did with its cassettes."""
    if isinstance(executor, Rerun):
        tally.reruns += executor.runs
        tally.code_differences.extend(executor.differences)
    tally.snapshots.extend((named(label, session), diff) for label, diff in snapshots.compared)
    tally.drift.extend((named(name, session), diff) for name, diff in agents.drift)
    tally.cassettes.extend(named(name, session) for name in agents.opened)
    on_disk = sorted(p.name for p in agents.folder.glob("*.json"))
    recorded = [*dict.fromkeys(n for n in agents.opened if n in on_disk), *on_disk]
    recorded = list(dict.fromkeys(recorded))  # in the order the run used them, then the rest
    tally.recorded.extend(named(name, session) for name in recorded)
    if count_unplayed:
        tally.unplayed_requests += agents.unplayed


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


def _untooled(where: Path, entries: tuple[Entry, ...], tools: Tools | None) -> Problem | None:
    """Why the session cannot be replayed without more tools: its journal records calls of a
    role's tools that the replay was not given (the requests would lack them)."""
    missing = sorted({e.role for e in entries if isinstance(e, Tooled)} - set(tools or {}))
    if not missing:
        return None
    return Problem(
        what=f"{where / 'journal.jsonl'} records calls of the tools of {', '.join(missing)}, "
        "which this replay was not given",
        where=str(where / "journal.jsonl"),
        fix="replay it from Python with the same tools: plancontrol.replay(run_dir, tools={...})",
    )
