"""Geometry of the report's inline SVG charts (timeline, bars), computed from the ledger; pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from plancontrol.core.context import TimingRow
from plancontrol.core.ledger import Totals
from plancontrol.core.report import dollars

__all__ = ["PLOT_WIDTH", "Bar", "BarRow", "Timeline", "bar_rows", "timeline"]

PLOT_WIDTH = 720.0
"""Width of the plotting area of every chart, in SVG units."""

ROW = 22
"""Height of one chart row, in SVG units."""


@dataclass(frozen=True)
class Bar:
    """One span on the timeline: its row, its left edge and width, and its tooltip."""

    row: int
    x: float
    width: float
    kind: str
    """``phase``, ``step`` or ``attempt`` (a CSS class)."""
    title: str


@dataclass(frozen=True)
class Timeline:
    """The phases, steps and attempts of a run on one time axis."""

    labels: tuple[str, ...]
    bars: tuple[Bar, ...]
    ticks: tuple[tuple[float, str], ...]

    @property
    def height(self) -> int:
        return ROW * (len(self.labels) + 1)


def _rows(timings: Sequence[TimingRow]) -> list[tuple[str, TimingRow]]:
    """Each span with its row label: a phase by name, a step as ``step N``."""
    return [(t.phase if t.step == 0 else f"step {t.step}", t) for t in timings]


def timeline(timings: Sequence[TimingRow], attempts: dict[int, int]) -> Timeline:
    """Place every span on one axis from the first start to the last end; a step's
    ``attempts[step]`` attempts share its span equally, in order (no clock reading is
    recorded per attempt).

    >>> rows = [TimingRow(phase="plan", step=0, started=10.0, ended=12.0),
    ...         TimingRow(phase="control", step=1, started=12.0, ended=14.0)]
    >>> t = timeline(rows, {1: 2})
    >>> t.labels, [(b.row, b.x, b.width, b.kind) for b in t.bars]
    (('plan', 'step 1'), [(0, 0.0, 360.0, 'phase'), (1, 360.0, 360.0, 'step'), \
(1, 360.0, 180.0, 'attempt'), (1, 540.0, 180.0, 'attempt')])
    """
    spans = _rows(timings)
    if not spans:
        return Timeline((), (), ())
    start = min(t.started for _, t in spans)
    total = max(max(t.ended for _, t in spans) - start, 1e-9)
    scale = PLOT_WIDTH / total
    labels = list(dict.fromkeys(label for label, _ in spans))
    bars: list[Bar] = []
    for label, t in spans:
        row, x, width = labels.index(label), (t.started - start) * scale, t.seconds * scale
        kind = "phase" if t.step == 0 else "step"
        bars.append(Bar(row, x, width, kind, f"{label}: {t.seconds:.2f} s"))
        n = attempts.get(t.step, 0) if t.step else 0
        bars += [
            Bar(row, x + k * width / n, width / n, "attempt", f"{label}, attempt {k + 1}")
            for k in range(n)
        ]
    ticks = tuple((PLOT_WIDTH * i / 4, f"{total * i / 4:.1f} s") for i in range(5))
    return Timeline(tuple(labels), tuple(bars), ticks)


@dataclass(frozen=True)
class BarRow:
    """One bar of a bar chart: its label, its length and the value written beside it."""

    label: str
    width: float
    text: str


def bar_rows(groups: Sequence[Totals], measure: str) -> tuple[BarRow, ...]:
    """Bars of ``tokens`` or ``cost`` per group, the longest filling the plot; a group with an
    unknown price gets no bar and says ``unknown``, never $0.

    >>> a = Totals(key="planner", calls=1, prompt_tokens=30, completion_tokens=10, cost_usd=None)
    >>> b = Totals(key="engineer", calls=2, prompt_tokens=10, completion_tokens=10, cost_usd=0.5)
    >>> [(r.label, r.width, r.text) for r in bar_rows([a, b], "tokens")]
    [('planner', 720.0, '40'), ('engineer', 360.0, '20')]
    >>> [(r.label, r.width, r.text) for r in bar_rows([a, b], "cost")]
    [('planner', 0.0, 'unknown'), ('engineer', 720.0, '$0.5000')]
    """
    values = [float(g.tokens) if measure == "tokens" else g.cost_usd for g in groups]
    top = max((v for v in values if v is not None), default=0.0) or 1.0
    return tuple(
        BarRow(
            g.key,
            0.0 if v is None else PLOT_WIDTH * v / top,
            str(g.tokens) if measure == "tokens" else dollars(g.cost_usd),
        )
        for g, v in zip(groups, values, strict=True)
    )
