"""The finalize phase: write the report of every step's outcome, usage and timing."""

from __future__ import annotations

from returns.result import Success

from plancontrol.context import Context
from plancontrol.effects import Effects
from plancontrol.ledger import summarize
from plancontrol.phase import PhaseResult
from plancontrol.report import render_report

__all__ = ["finalize"]


def finalize(ctx: Context, fx: Effects) -> PhaseResult:
    """Save report.md (outcomes, cost per role and step, timings) to the workspace."""
    fx.workspace.write("report.md", render_report(summarize(ctx)))
    return Success(ctx)
