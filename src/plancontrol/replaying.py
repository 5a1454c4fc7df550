"""Replaying a run folder: the recorded pipeline run again on cassettes and the journal."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from returns.result import Failure, Result, Success

from plancontrol.context import Context
from plancontrol.effects import EventSink
from plancontrol.phase import Halt
from plancontrol.runfolder import Verdict, compare, read_manifest, recorded_context

__all__ = ["ReplayOutcome", "replay_run"]


@dataclass(frozen=True)
class ReplayOutcome:
    """What a replay found: the result, each snapshot's comparison, what went unused."""

    result: Result[Context, Halt]
    verdict: Verdict
    snapshots: tuple[tuple[str, str | None], ...]
    drift: tuple[tuple[str, str], ...]
    cassettes_used: tuple[str, ...]
    unplayed_requests: int
    unplayed_journal: dict[str, int]

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


def replay_run(
    run_dir: Path, events: EventSink | None = None, lenient: bool = False
) -> Result[ReplayOutcome, str]:
    """Run the recording in ``run_dir`` again with no network and no code execution: model
    replies from its cassettes (fail-closed), scripts' results, clock readings and decisions
    from its journal. Nothing is written into the folder. A Failure says in one line why the
    folder cannot be replayed at all. ``lenient`` serves the recorded reply in place of a
    request that no longer matches (noting it in ``drift``), to check every step."""
    from plancontrol.ag2_agents import Ag2Agents
    from plancontrol.cassettes import CassetteAgents
    from plancontrol.effects import Effects
    from plancontrol.journal import JournalReplay, read_journal
    from plancontrol.local import DiscardEvents, Uninterrupted
    from plancontrol.pipeline import PLANNING_AND_CONTROL, run_pipeline
    from plancontrol.runfolder import ComparingCheckpoints
    from plancontrol.secrets import Scrubber, secret_values
    from plancontrol.testing import MemoryWorkspace

    manifest = read_manifest(run_dir)
    recorded = recorded_context(run_dir)
    entries = read_journal(run_dir / "journal.jsonl")
    match manifest, recorded, entries:
        case Success(m), Success((data, _)), Success(journaled):
            pass
        case _:
            problem = next(
                r.failure() for r in (manifest, recorded, entries) if isinstance(r, Failure)
            )
            return Failure(str(problem))
    journal = JournalReplay(journaled)
    snapshots = ComparingCheckpoints(run_dir)
    scrub = Scrubber(secret_values(os.environ)).data
    with Ag2Agents(m.default_route, dict(m.routes)) as live:
        agents = CassetteAgents(live, run_dir / "cassettes", "replay", scrub, lenient)
        fx = Effects(
            agents=agents,
            executor=journal,
            workspace=MemoryWorkspace(),
            events=events or DiscardEvents(),
            approver=journal,
            clock=journal,
            signals=Uninterrupted(),
            checkpoints=snapshots,
        )
        result = run_pipeline(PLANNING_AND_CONTROL, Context(task=m.task, settings=m.settings), fx)
        agents.close()
    final = result.value_or(None)
    last = final if final is not None else result.failure().context
    return Success(
        ReplayOutcome(
            result=result,
            verdict=compare(data, last),
            snapshots=tuple(snapshots.compared),
            drift=tuple(agents.drift),
            cassettes_used=tuple(agents.opened),
            unplayed_requests=agents.unplayed,
            unplayed_journal=journal.unplayed,
        )
    )
