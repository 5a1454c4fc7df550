"""The finalize phase: write the report of every step's outcome, usage and timing."""

from __future__ import annotations

from returns.result import Success

from plancontrol.core.context import Context
from plancontrol.core.ledger import summarize
from plancontrol.core.phase import PhaseResult
from plancontrol.core.ports import World
from plancontrol.core.report import render_report

__all__ = ["finalize"]


def finalize(ctx: Context, fx: World) -> PhaseResult:
    """Save report.md (outcomes, cost per role and step, timings) to the workspace."""
    fx.workspace.write("report.md", render_report(summarize(ctx)))
    return Success(ctx)
