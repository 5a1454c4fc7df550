"""The handlers of an unattended run on this machine: the clock, approvals, pauses, events."""

from __future__ import annotations

import time

from plancontrol.core.events import Event
from plancontrol.core.ports import ApprovalRequest, Approve, Decision

__all__ = ["ApproveAll", "DiscardEvents", "SystemClock", "Uninterrupted"]


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


class DiscardEvents:
    """An event sink for quiet runs: drops every event."""

    def emit(self, event: Event) -> None:
        return None
