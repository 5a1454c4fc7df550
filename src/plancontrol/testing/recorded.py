"""A recorded run's snapshots in a test: the context before and after any phase or step."""

from __future__ import annotations

from pathlib import Path

from plancontrol.core.context import Context
from plancontrol.runs.folder import read_sessions, session_dir
from plancontrol.runs.snapshots import SnapshotFiles, decode_snapshot

__all__ = ["snapshot"]


def snapshot(run_dir: str | Path, label: str) -> Context:
    """The context the run in ``run_dir`` saved under ``label`` (a phase's name, or
    ``step-02``), from the newest session that saved it; ValueError saying why when none did.

    Feed it to a phase of your own and compare with the snapshot after it: a unit test of
    the phase on the inputs a real run gave it, with no model and no key.
    """
    folder = Path(run_dir)
    sessions = read_sessions(folder).alt(lambda p: ValueError(p.message)).unwrap()
    for session in reversed(sessions):
        files = SnapshotFiles(session_dir(folder, session.number))
        if files.path(label).is_file():
            found = files.read(label).bind(decode_snapshot)
            return found.map(lambda saved: saved[1]).alt(lambda p: ValueError(p.message)).unwrap()
    raise ValueError(f"{folder} has no snapshot {label!r}; see its sessions/*/snapshots/")
