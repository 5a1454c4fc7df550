"""Recording one session of a run: real handlers that write to ``sessions/NN/`` as they go."""

from __future__ import annotations

from pathlib import Path

import msgspec
from returns.result import Failure, Result, Success

from plancontrol.core.context import Context, decode_context, encode_context
from plancontrol.core.errors import Cancelled
from plancontrol.core.phase import Halt
from plancontrol.core.pipeline import Pipeline, run_pipeline
from plancontrol.core.plan import Plan
from plancontrol.core.ports import Agents
from plancontrol.handlers.files import write_atomic
from plancontrol.handlers.secrets import Scrubber
from plancontrol.recording.cassettes import CassetteAgents
from plancontrol.recording.files import written
from plancontrol.recording.wiring import Handlers, recorded
from plancontrol.runs.folder import (
    RunOptions,
    Session,
    SessionStatus,
    format_of,
    session_dir,
    write_session,
)
from plancontrol.runs.journal import Entry, Journal, Saved, seal
from plancontrol.runs.resume import suggested_call
from plancontrol.runs.snapshots import decode_snapshot, digest, encode_snapshot, stored_form

__all__ = ["Handlers", "RecordingCheckpoints", "next_session", "record_session"]

_ENTRY = msgspec.json.Decoder(Entry)
_PLAN = msgspec.json.Decoder(Plan)
"""What each scrubbed record is checked with before it is written: it must read back."""


class RecordingCheckpoints:
    """Writes each snapshot once what led to it is on disk: the open cassette is saved, the
    snapshot's digest journaled, then the snapshot written atomically. A run killed at any
    moment thus leaves snapshots that all have their recorded inputs beside them."""

    def __init__(
        self,
        session: Path,
        journal: Journal,
        cassettes: CassetteAgents,
        scrubber: Scrubber,
        deltas: bool = True,
    ) -> None:
        self.session = session
        self.journal = journal
        self.cassettes = cassettes
        self.scrubber = scrubber
        self.deltas = deltas  # False: each snapshot whole (a session of a format-3 run)
        self._previous: tuple[str, bytes] | None = None  # the last snapshot written, whole

    def save(self, label: str, ctx: Context) -> None:
        """Write the snapshot as its changes since the one before (whole: the session's
        first, and one whose label the session wrote before)."""
        self.cassettes.flush()
        data = self.scrubber.checked(decode_snapshot)(encode_snapshot(label, ctx))
        self.journal.append(Saved(label, digest(data)))
        path = self.session / "snapshots" / f"{label}.json"
        previous = None if path.exists() or not self.deltas else self._previous
        write_atomic(path, stored_form(previous, data))
        self._previous = (label, data)


def next_session(folder: Path) -> int:
    """The number the next session of the run in ``folder`` gets."""
    return len(list((folder / "sessions").glob("*/session.json"))) + 1


def record_session(
    folder: Path,
    pipeline: Pipeline,
    start: Context,
    agents: Agents,
    handlers: Handlers,
    scrub: Scrubber,
    *,
    command: str = "run",
    starts_after: str | None = None,
    options: RunOptions | None = None,
) -> Result[Context, Halt]:
    """Run ``pipeline`` from ``start`` as the next session of the run in ``folder``,
    recording model traffic, the journal and snapshots, and saying how the session ended;
    ``scrub`` removes secrets from all it writes.

    ``starts_after`` names the snapshot ``start`` was taken from (None: from scratch); the
    start is kept in ``start.json`` (also by a later session starting from scratch, whose
    settings may differ from the manifest's, and by a first one whose start holds more than
    the task and settings: shared variables, a given plan) so that a replay begins where this
    session began; ``options`` (how the models were reached, the scripts' limits) go into
    ``session.json``. On
    return (or Ctrl-C) ``session.json`` tells how it ended, and the last context is written
    to the session and, with the plan, to the top of the run folder.
    """

    number = next_session(folder)
    where = session_dir(folder, number)
    _write_start(where, number, starts_after, start, scrub)
    session = Session(number=number, command=command, starts_after=starts_after, options=options)  # type: ignore[arg-type]
    write_session(folder, session)
    journal = Journal(where / "journal.jsonl", scrub=scrub.checked(_ENTRY.decode))
    cassettes = CassetteAgents(agents, where / "cassettes", "record", scrub=scrub.data)
    checkpoints = RecordingCheckpoints(where, journal, cassettes, scrub, format_of(folder) >= 4)
    fx = recorded(folder, cassettes, handlers, journal, checkpoints, scrub, options)
    status: SessionStatus = "interrupted"
    message = f"interrupted by Ctrl-C; resume it with {suggested_call('resume', folder)}"
    try:
        result = run_pipeline(pipeline, start, fx)
        match result:
            case Success(ctx):
                status, message, last = "completed", "", ctx
            case Failure(Halt(error, ctx)):
                status = "cancelled" if isinstance(error, Cancelled) else "failed"
                message, last = error.message, ctx
        cassettes.close()
        _write_last(folder, where, last, scrub)
        for wrote in written(folder, last):  # replay checks these files are left unchanged
            journal.append(wrote)
        return result
    finally:
        cassettes.close()
        journal.close()
        _write_ended(folder, session, journal, status, scrub.text(message))


def _write_start(
    where: Path, number: int, starts_after: str | None, start: Context, scrub: Scrubber
) -> None:
    """Keep the session's start in ``start.json`` unless it begins from the manifest alone
    (the first session, from scratch, with only the task and settings)."""
    if (
        starts_after is not None
        or number > 1
        or start != Context(task=start.task, settings=start.settings)
    ):
        label = starts_after or "start"
        snapshot = scrub.checked(decode_snapshot)(encode_snapshot(label, start))
        write_atomic(where / "start.json", snapshot)


def _write_ended(
    folder: Path, session: Session, journal: Journal, status: SessionStatus, message: str
) -> None:
    """Say in ``session.json`` how the session ended, with its journal sealed."""
    size, sha = seal(journal.path)
    write_session(
        folder,
        Session(
            number=session.number,
            command=session.command,
            starts_after=session.starts_after,
            status=status,
            message=message,
            journal_bytes=size,
            journal_sha256=sha,
            options=session.options,
        ),
    )


def _write_last(folder: Path, where: Path, ctx: Context, scrub: Scrubber) -> None:
    """The session's last context, and the run's latest context and plan at the top."""
    from msgspec import json

    data = scrub.checked(decode_context)(encode_context(ctx))
    write_atomic(where / "context.json", data)
    write_atomic(folder / "context.json", data)
    if ctx.plan is not None:
        plan = json.format(json.encode(ctx.plan)) + b"\n"
        write_atomic(folder / "plan.json", scrub.checked(_PLAN.decode)(plan))
