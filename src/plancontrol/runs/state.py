"""How a run stands, for ``plancontrol show``: its last context and how it got there."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from returns.result import Failure, Result, Success

from plancontrol.core.context import Context, decode_context
from plancontrol.core.problem import Problem
from plancontrol.runs.folder import Manifest, Session, read_manifest, read_sessions, session_dir
from plancontrol.runs.resume import latest_saved, load_saved

__all__ = ["RunState", "recorded_state", "run_state"]


@dataclass(frozen=True)
class RunState:
    """How a run stands, for ``plancontrol show``: its last context and how it got there."""

    manifest: Manifest
    sessions: tuple[Session, ...]
    context: Context
    status: str


def run_state(folder: Path) -> Result[RunState, Problem]:
    """The run's last context (a finished session's, else its last snapshot) and a line
    saying whether it finished, failed, was cancelled or was cut short, and where; or
    ``running (pid N)`` while a process writes it."""
    from dataclasses import replace as with_status

    from plancontrol.runs.lock import holder

    pid = holder(folder)
    state = _state(folder)
    if pid is None:
        return state
    return state.map(lambda s: with_status(s, status=f"running (pid {pid})"))


def recorded_state(folder: Path) -> Result[RunState, Problem]:
    """The run as its records say it stands, whoever holds its lock: for the process that
    holds it, once its session has ended (``run_state`` would call the run running)."""
    return _state(folder)


def _state(folder: Path) -> Result[RunState, Problem]:
    match read_manifest(folder).bind(lambda m: read_sessions(folder).map(lambda s: (m, s))):
        case Success((manifest, sessions)):
            pass
        case Failure(problem):
            return Failure(problem)
    last = sessions[-1]
    ended = session_dir(folder, last.number) / "context.json"
    if last.status in ("completed", "failed", "cancelled") and ended.is_file():
        decoded = decode_context(ended.read_bytes())
        if isinstance(decoded, Failure):
            return Failure(
                Problem(
                    what=f"{ended}: {decoded.failure()}",
                    where=str(ended),
                    fix="restore it from a copy",
                )
            )
        status = {
            "completed": "finished",
            "failed": f"failed: {last.message}",
            "cancelled": f"cancelled: {last.message}",
        }[last.status]
        return Success(RunState(manifest, sessions, decoded.unwrap(), status))
    match latest_saved(folder, sessions):
        case Failure(problem):
            return Failure(problem)
        case Success(None):
            fresh = Context(task=manifest.task, settings=manifest.settings)
            return Success(RunState(manifest, sessions, fresh, "stopped before planning ended"))
        case Success((number, saved)):
            pass
    how = "interrupted" if last.status == "interrupted" else "stopped without finishing"
    return load_saved(folder, sessions[number - 1], saved).map(
        lambda ctx: RunState(manifest, sessions, ctx, f"{how}; resumable after {saved.label}")
    )
