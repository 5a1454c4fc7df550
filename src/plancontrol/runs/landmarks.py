"""Landmarks of a recorded run's pipeline: where it began, where its steps begin, where it ends."""

from __future__ import annotations

from pathlib import Path

from returns.result import Result, Success

from plancontrol.core.context import Context
from plancontrol.core.problem import Problem
from plancontrol.runs.folder import Manifest, session_dir
from plancontrol.runs.snapshots import decode_snapshot

__all__ = ["first_start", "last_phase", "phase_before_steps"]


def first_start(folder: Path, manifest: Manifest) -> Result[Context, Problem]:
    """The context the run's first session began with: its ``start.json`` when it kept one
    (a given plan, shared variables), else the manifest's task and settings."""
    path = session_dir(folder, 1) / "start.json"
    if not path.is_file():
        return Success(Context(task=manifest.task, settings=manifest.settings))
    found = decode_snapshot(path.read_bytes()).map(lambda saved: saved[1])
    return found.alt(lambda p: Problem(what=f"{path}: {p.message}", where=str(path)))


def phase_before_steps(manifest: Manifest) -> str | None:
    """The snapshot the plan's first step starts after: the phase before the one that
    carries out the steps (``approve`` in planning and control); None when the steps phase
    comes first (a given plan), so step 1 starts from the run's beginning."""
    if manifest.pipeline is None:
        return "approve"
    names = [record.name for record in manifest.pipeline]
    at = next((i for i, r in enumerate(manifest.pipeline) if r.step is not None), len(names))
    return names[at - 1] if at > 0 else None


def last_phase(manifest: Manifest) -> str:
    """The phase whose snapshot says the run ran to its end."""
    return manifest.pipeline[-1].name if manifest.pipeline else "finalize"
