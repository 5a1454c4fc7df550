"""The run report as Markdown: outcomes, cost and timing tables, from a ``Report``; pure."""

from __future__ import annotations

from collections.abc import Iterable

from plancontrol.core.carryover import clip
from plancontrol.core.ledger import Report, Totals

__all__ = ["dollars", "render_report"]


def dollars(cost: float | None) -> str:
    """A cost for people: ``$0.0123``, or ``unknown`` when a price was missing."""
    return "unknown" if cost is None else f"${cost:.4f}"


def _table(header: tuple[str, ...], rows: Iterable[tuple[str, ...]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return lines


def _usage(title: str, groups: tuple[Totals, ...], total: Totals) -> list[str]:
    rows = [
        (g.key, str(g.calls), str(g.prompt_tokens), str(g.completion_tokens), dollars(g.cost_usd))
        for g in (*groups, total)
    ]
    return [
        "",
        f"## Cost by {title}",
        "",
        *_table((title, "calls", "prompt tokens", "completion tokens", "cost"), rows),
    ]


def render_report(report: Report) -> str:
    """report.md: the task, each step's outcome, usage per role and per step, timings."""
    outcome_rows = [
        (
            str(o.step),
            o.agent,
            o.status,
            o.code_status,
            str(o.attempts),
            clip(o.error or o.summary.split("\n", 1)[0], 80),
        )
        for o in report.outcomes
    ]
    timing_rows = [
        (t.phase, str(t.step) if t.step else "", f"{t.seconds:.2f}") for t in report.timings
    ]
    lines = [
        "# plancontrol report",
        "",
        f"Task: {report.task}",
        "",
        f"Steps in plan: {report.n_steps}; total time {report.seconds:.2f} s; "
        f"total cost {dollars(report.total.cost_usd)}.",
        "",
        "## Steps",
        "",
        *_table(("step", "agent", "status", "code", "attempts", "note"), outcome_rows),
        *_usage("role", report.by_role, report.total),
        *_usage("phase", report.by_phase, report.total),
        *_usage("step", report.by_step, report.total),
        "",
        "## Timing",
        "",
        *_table(("phase", "step", "seconds"), timing_rows),
    ]
    return "\n".join(lines) + "\n"
