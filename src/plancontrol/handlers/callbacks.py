"""Event sinks and signals from user callbacks, each shielded so a failing one never stops a run."""

from __future__ import annotations

import logging
from typing import Any

from plancontrol.core.events import Event, event_name
from plancontrol.core.ports import Signals

__all__ = ["AllSignals", "CallbackEvents", "CallbackSignals", "FanOut", "deliver"]

log = logging.getLogger("plancontrol")


def deliver(sink: Any, event: Event) -> None:
    """Give ``event`` to ``sink``; a sink that raises is logged and never breaks the run."""
    try:
        sink.emit(event)
    except Exception:
        log.exception("event sink %r raised on %s; the run goes on", sink, event_name(event))


class FanOut:
    """Sends every event to several sinks, each shielded from the others' failures."""

    def __init__(self, *sinks: Any) -> None:
        self.sinks = sinks

    def emit(self, event: Event) -> None:
        for sink in self.sinks:
            deliver(sink, event)


class CallbackEvents:
    """Adapts any object with ``on_<event>`` methods (``on_step_start(event)``, …) to a sink.

    Methods it lacks are skipped; one that raises is recorded in ``failures`` and logged.
    """

    def __init__(self, callbacks: object) -> None:
        self.callbacks = callbacks
        self.failures: list[tuple[str, str]] = []

    def emit(self, event: Event) -> None:
        name = f"on_{event_name(event)}"
        hook = getattr(self.callbacks, name, None)
        if hook is None:
            return
        try:
            hook(event)
        except Exception as exc:
            self.failures.append((name, f"{type(exc).__name__}: {exc}"))
            log.warning("callback %s raised %s: %s; the run goes on", name, type(exc).__name__, exc)


class CallbackSignals:
    """Adapts ``should_continue()`` and ``pause_check()`` methods, when present, to Signals.

    ``pause_check`` may block while the user has paused the run. A hook that raises counts
    as "continue", so a broken callback cannot cancel a run by accident.
    """

    def __init__(self, callbacks: object) -> None:
        self.callbacks = callbacks

    def should_continue(self, step: int) -> bool:
        for name in ("pause_check", "should_continue"):
            hook = getattr(self.callbacks, name, None)
            if hook is None:
                continue
            try:
                answer = hook()
            except Exception as exc:
                log.warning("callback %s raised %s: %s; continuing", name, type(exc).__name__, exc)
                continue
            if name == "should_continue" and answer is False:
                return False
        return True


class AllSignals:
    """Several Signals as one: the run goes on while every one says so.

    They are asked in order and the first "stop" ends the round, so a cancelled run never
    waits on a pause hook; put a ``SignalWatch`` after ``CallbackSignals`` to also see a
    signal that arrived while the pause hook held the run.

    >>> class Stop:
    ...     def should_continue(self, step: int) -> bool:
    ...         return step < 2
    >>> both = AllSignals(CallbackSignals(object()), Stop())
    >>> both.should_continue(1), both.should_continue(2)
    (True, False)
    """

    def __init__(self, *signals: Signals) -> None:
        self.signals = signals

    def should_continue(self, step: int) -> bool:
        return all(signals.should_continue(step) for signals in self.signals)
