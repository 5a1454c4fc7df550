"""Pipelines as the manifest records them: each phase by name and importable functions."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any

from returns.result import Failure, Result, Success

from plancontrol.core.phase import Phase
from plancontrol.core.pipeline import PLANNING_AND_CONTROL, Pipeline
from plancontrol.core.problem import Problem
from plancontrol.runs.folder import PhaseRecord

__all__ = ["describe", "named_pipeline", "rebuild", "recorded_pipeline"]

_FIX = (
    "define it at module level, where `import` finds it, so replay, resume and fork can rebuild it"
)


def _reference(fn: Callable[..., Any], phase: str) -> Result[str, Problem]:
    """``module:qualified.name`` of ``fn``, checked to import back to ``fn`` itself."""
    module, name = getattr(fn, "__module__", None), getattr(fn, "__qualname__", "")
    reference = f"{module}:{name}"
    if module is None or "<" in name or _imported(reference).value_or(None) is not fn:
        what = f"phase {phase!r} runs {reference}, which cannot be imported back"
        return Failure(Problem(what=what, where=phase, fix=_FIX))
    return Success(reference)


def _imported(reference: str) -> Result[Any, Problem]:
    """What ``module:qualified.name`` names, imported."""
    module, _, name = reference.partition(":")
    try:
        found: Any = importlib.import_module(module)
        for part in name.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError, ValueError) as exc:
        return Failure(Problem(what=f"cannot import {reference} ({exc})", where=reference))
    return Success(found)


def describe(pipeline: Pipeline) -> Result[tuple[PhaseRecord, ...], Problem]:
    """How the manifest records ``pipeline``; refused when a phase's function could not be
    imported again (a lambda, a function defined inside another)."""
    records = []
    for phase in pipeline:
        parts: dict[str, str | None] = {}
        for part in ("run", "step", "gate"):
            fn = getattr(phase, part)
            if fn is None:
                parts[part] = None
                continue
            match _reference(fn, phase.name):
                case Failure() as refused:
                    return refused
                case Success(reference):
                    parts[part] = reference
        records.append(PhaseRecord(name=phase.name, **parts))  # type: ignore[arg-type]
    return Success(tuple(records))


def rebuild(records: Sequence[PhaseRecord]) -> Result[Pipeline, Problem]:
    """The pipeline the manifest records, its functions imported again."""
    phases = []
    for record in records:
        parts: dict[str, Any] = {}
        for part in ("run", "step", "gate"):
            reference = getattr(record, part)
            if reference is None:
                continue
            match _imported(reference):
                case Failure(problem):
                    what = f"phase {record.name!r} cannot be rebuilt: {problem.what}"
                    fix = (
                        "make that module importable here (install it, or add its folder to "
                        "PYTHONPATH), or name the pipeline's new home with `pipeline`"
                    )
                    return Failure(Problem(what=what, where=record.name, fix=fix))
                case Success(fn):
                    parts[part] = fn
        phases.append(Phase(record.name, **parts))
    return Success(tuple(phases))


def named_pipeline(spec: str) -> Result[Pipeline, Problem]:
    """The pipeline ``package.module:NAME`` names (a tuple of phases)."""
    if ":" not in spec:
        what = f"`pipeline` {spec!r} is not MODULE:NAME"
        return Failure(Problem(what=what, where="pipeline", fix="e.g. mypackage.flows:PIPELINE"))
    match _imported(spec):
        case Failure(problem):
            return Failure(Problem(what=problem.what, where="pipeline"))
        case Success(found) if isinstance(found, tuple) and all(
            isinstance(p, Phase) for p in found
        ):
            return Success(found)
    what = f"{spec} is not a pipeline (a tuple of plancontrol.Phase)"
    return Failure(Problem(what=what, where="pipeline"))


def recorded_pipeline(
    records: Sequence[PhaseRecord] | None, instead: str | None = None
) -> Result[Pipeline, Problem]:
    """The pipeline a run was recorded with (None: the built-in planning and control, as
    every run before pipelines were recorded); ``instead`` (``MODULE:NAME``) names where it
    lives now, checked to have the recorded phases."""
    if instead is None:
        return Success(PLANNING_AND_CONTROL) if records is None else rebuild(records)
    recorded = [r.name for r in records] if records else [p.name for p in PLANNING_AND_CONTROL]
    match named_pipeline(instead):
        case Success(pipeline) if [p.name for p in pipeline] != recorded:
            what = (
                f"{instead} has the phases {', '.join(p.name for p in pipeline)} but the run "
                f"was recorded with {', '.join(recorded)}"
            )
            return Failure(Problem(what=what, where="pipeline", fix="name the pipeline it ran"))
        case other:
            return other
