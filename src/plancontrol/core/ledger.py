"""Usage and timing totals, always summed from per-call and per-span rows; no I/O."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import msgspec

from plancontrol.core.context import Context, StepOutcome, TimingRow, UsageRow

__all__ = ["Report", "Totals", "known_cost", "summarize", "summed_cost", "total_cost", "totals_by"]


class Totals(msgspec.Struct, frozen=True, kw_only=True):
    """Summed usage of a group of calls. ``cost_usd`` is None when any call's price is unknown."""

    key: str
    calls: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class Report(msgspec.Struct, frozen=True, kw_only=True):
    """What a finished (or stopped) run did: every step's outcome, usage and time."""

    task: str
    n_steps: int
    outcomes: tuple[StepOutcome, ...]
    by_role: tuple[Totals, ...]
    by_phase: tuple[Totals, ...]
    by_step: tuple[Totals, ...]
    total: Totals
    timings: tuple[TimingRow, ...]
    seconds: float


def known_cost(rows: Iterable[UsageRow]) -> float:
    """Dollars of the calls whose price is known (a lower bound when some are unknown)."""
    return sum(row.cost_usd for row in rows if row.cost_usd is not None)


def total_cost(rows: Iterable[UsageRow]) -> float | None:
    """Dollars of all calls, or None when any call's price is unknown.

    >>> from plancontrol.core.context import UsageRow
    >>> row = UsageRow(role="planner", model="m", phase="planning", step=0, attempt=1,
    ...                prompt_tokens=10, completion_tokens=5, cost_usd=0.25)
    >>> total_cost([row, row]), total_cost([row, msgspec.structs.replace(row, cost_usd=None)])
    (0.5, None)
    """
    return summed_cost(row.cost_usd for row in rows)


def summed_cost(costs: Iterable[float | None]) -> float | None:
    """The sum of ``costs``, or None when any is unknown (None).

    >>> summed_cost([0.25, 0.5]), summed_cost([0.25, None]), summed_cost([])
    (0.75, None, 0)
    """
    known = tuple(costs)
    return None if None in known else sum(c for c in known if c is not None)


def _totals(key: str, rows: tuple[UsageRow, ...]) -> Totals:
    return Totals(
        key=key,
        calls=len(rows),
        prompt_tokens=sum(r.prompt_tokens for r in rows),
        completion_tokens=sum(r.completion_tokens for r in rows),
        cost_usd=total_cost(rows),
    )


def totals_by(rows: Iterable[UsageRow], key: Callable[[UsageRow], str]) -> tuple[Totals, ...]:
    """Totals per group, groups in order of first appearance."""
    groups: dict[str, list[UsageRow]] = {}
    for row in rows:
        groups.setdefault(key(row), []).append(row)
    return tuple(_totals(k, tuple(v)) for k, v in groups.items())


def _step_key(row: UsageRow) -> str:
    return "planning" if row.step == 0 else f"step {row.step}"


def summarize(ctx: Context) -> Report:
    """Summarise ``ctx``: latest outcome per step, usage per role / phase / step, total time."""
    latest: dict[int, StepOutcome] = {o.step: o for o in ctx.outcomes}
    starts = [t.started for t in ctx.timings]
    ends = [t.ended for t in ctx.timings]
    return Report(
        task=ctx.task,
        n_steps=ctx.plan.n_steps if ctx.plan else 0,
        outcomes=tuple(latest[n] for n in sorted(latest)),
        by_role=totals_by(ctx.usage, lambda r: r.role),
        by_phase=totals_by(ctx.usage, lambda r: r.phase),
        by_step=totals_by(ctx.usage, _step_key),
        total=_totals("total", ctx.usage),
        timings=ctx.timings,
        seconds=(max(ends) - min(starts)) if starts else 0.0,
    )
