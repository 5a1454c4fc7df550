"""The handlers of an unattended run on this machine: the clock, approvals, pauses, events."""

from __future__ import annotations

import time

from plancontrol.core.events import Event
from plancontrol.core.ports import ApprovalRequest, Approve, Decision

__all__ = ["ApproveAll", "DiscardEvents", "StopAfterStep", "SystemClock", "Uninterrupted"]


class SystemClock:
    """The machine's wall clock, in seconds since the epoch."""

    def now(self) -> float:
        return time.time()


class ApproveAll:
    """The approver of an unattended run: every plan and step goes ahead."""

    def decide(self, request: ApprovalRequest) -> Decision:
        return Approve()


class Uninterrupted:
    """Signals for a run that nothing pauses or cancels between steps."""

    def should_continue(self, step: int) -> bool:
        return True


class StopAfterStep:
    """Signals that stop a run at the safe point after plan step ``step`` (before any later
    step); the stop is recorded like a cancel, and a resume goes on from there.

    >>> stop = StopAfterStep(2)
    >>> stop.should_continue(0), stop.should_continue(2), stop.should_continue(3)
    (True, True, False)
    """

    def __init__(self, step: int) -> None:
        self.step = step

    def should_continue(self, step: int) -> bool:
        return step <= self.step


class DiscardEvents:
    """An event sink for quiet runs: drops every event."""

    def emit(self, event: Event) -> None:
        return None
