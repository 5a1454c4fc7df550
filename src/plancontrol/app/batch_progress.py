"""A batch's progress in one line: a bar, the tasks done, failed and running, the time."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from rich.console import Group
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from plancontrol.app.batch import BatchRow

__all__ = ["BatchLine"]


class BatchLine:
    """How far a batch has got; told of each task as it starts and ends (from any thread),
    read when it is drawn.

    >>> line = BatchLine(3, clock=iter([0.0, 41.0]).__next__)
    >>> line.started("a")
    >>> line.ended(BatchRow(id="a", task="t", run_dir="d", action="run", status="failed"))
    >>> line.ended(BatchRow(id="b", task="t", run_dir="d", action="skip", status="finished"))
    >>> line.text().plain
    '2/3 tasks done, 1 failed, 0 running, 00:41'
    """

    def __init__(self, total: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.total, self.clock = total, clock
        self.begun = clock()
        self.done = self.failed = self.running = 0
        self.lock = threading.Lock()

    def started(self, name: str) -> None:
        """Task ``name``'s run has started."""
        with self.lock:
            self.running += 1

    def ended(self, row: BatchRow) -> None:
        """A task has ended (or was skipped), as ``row`` says."""
        with self.lock:
            if row.action != "skip":
                self.running -= 1
            self.done += 1
            if row.status in ("failed", "error"):
                self.failed += 1

    def text(self) -> Text:
        """The line as it stands now."""
        minutes, seconds = divmod(int(self.clock() - self.begun), 60)
        return Text(
            f"{self.done}/{self.total} tasks done, {self.failed} failed, "
            f"{self.running} running, {minutes:02d}:{seconds:02d}",
            style="bold cyan",
        )

    def __rich__(self) -> Group:
        bar = ProgressBar(total=max(self.total, 1), completed=self.done, width=24)
        grid = Table.grid(padding=(0, 1))
        grid.add_row(bar, self.text())
        return Group(grid)
