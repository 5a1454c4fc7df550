"""The status line of a run at a terminal: phase, step k of n, attempt, time, tokens, dollars."""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.console import Console, RenderableType
from rich.live import Live
from rich.text import Text

from plancontrol.core.events import (
    AgentReplied,
    CodeExecuted,
    CostUpdate,
    Event,
    PhaseChange,
    StepStart,
)
from plancontrol.core.report import dollars

__all__ = ["LiveStatus", "StatusLine"]


class StatusLine:
    """What a run has got to, said in one line; the time is read when the line is drawn.

    >>> line = StatusLine(clock=iter([0.0, 2.5]).__next__)
    >>> for event in (PhaseChange(phase="control", previous="approve"),
    ...               StepStart(step=2, n_steps=2, goal="g", agent="researcher", started=0.0)):
    ...     line.tell(event)
    >>> line.text().plain
    'control · step 2 of 2 · attempt 1 · 2.5 s · 0 tokens · $0.0000 so far'
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.started = clock()
        self.phase = "starting"
        self.step = 0
        self.n_steps = 0
        self.attempt = 0
        self.tokens = 0
        self.cost: float | None = 0.0

    def tell(self, event: Event) -> None:
        """Note what ``event`` says about where the run is and what it has spent."""
        match event:
            case PhaseChange(phase=phase):
                self.phase = phase
            case StepStart(step=step, n_steps=n):
                self.step, self.n_steps, self.attempt = step, n, 1
            case (
                AgentReplied(step=step, attempt=attempt) | CodeExecuted(step=step, attempt=attempt)
            ) if step == self.step:
                self.attempt = attempt
            case CostUpdate(prompt_tokens=prompt, completion_tokens=completion, cost_usd=cost):
                self.tokens += prompt + completion
                self.cost = None if self.cost is None or cost is None else self.cost + cost
            case _:
                pass

    def text(self) -> Text:
        """The line as it stands now."""
        parts = [self.phase]
        if self.step:
            parts += [f"step {self.step} of {self.n_steps}", f"attempt {self.attempt}"]
        parts += [
            f"{self.clock() - self.started:.1f} s",
            f"{self.tokens:,} tokens",
            f"{dollars(self.cost)} so far",
        ]
        return Text(" · ".join(parts), style="bold cyan")

    def __rich__(self) -> Text:
        return self.text()


class LiveStatus:
    """The status line kept at the bottom of a terminal and redrawn in place (four times a
    second, so the time moves) while finished lines scroll above it; gone once stopped.
    ``line`` is a run's ``StatusLine``, or any renderable (a batch's line)."""

    def __init__(self, console: Console, line: RenderableType) -> None:
        self.live = Live(line, console=console, refresh_per_second=4, transient=True)
        self.running = False

    def start(self) -> None:
        if not self.running:
            self.running = True
            self.live.start()

    def stop(self) -> None:
        if self.running:
            self.running = False
            self.live.stop()
