"""Checkpoints in the run folder: each snapshot written atomically as ``snapshots/LABEL.json``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from plancontrol.core.context import Context
from plancontrol.handlers.files import write_atomic
from plancontrol.runs.snapshots import encode_snapshot

__all__ = ["FolderCheckpoints"]


class FolderCheckpoints:
    """Writes each snapshot as ``snapshots/LABEL.json`` under ``root``, atomically, in the
    run folder's snapshot format (``snapshots.decode_snapshot`` reads it back)."""

    def __init__(self, root: Path | str, scrub: Callable[[str], str] = str) -> None:
        self.root = Path(root)
        self.scrub = scrub

    def save(self, label: str, ctx: Context) -> None:
        text = self.scrub(encode_snapshot(label, ctx).decode())
        write_atomic(self.root / "snapshots" / f"{label}.json", text)
