"""What a phase is: a named function from (Context, Effects) to a Result; and how it stops."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import msgspec
from returns.result import Failure, Result

from plancontrol.core.context import Context
from plancontrol.core.errors import Error
from plancontrol.core.ports import Effects

__all__ = ["Halt", "Phase", "PhaseFn", "PhaseResult", "halt"]


class Halt(msgspec.Struct, frozen=True):
    """Why a run stopped, with the context as it stood then (its usage, outcomes, timings).

    Keeping the context means a failed run still shows what it spent and finished, and can
    be resumed from it.
    """

    error: Error
    context: Context

    @property
    def message(self) -> str:
        """The error's one-line explanation."""
        return self.error.message


PhaseResult = Result[Context, Halt]
PhaseFn = Callable[[Context, Effects], PhaseResult]


def halt(ctx: Context, error: Error) -> PhaseResult:
    """Stop with ``error``, keeping ``ctx``."""
    return Failure(Halt(error, ctx))


@dataclass(frozen=True, slots=True)
class Phase:
    """A pipeline entry: the name shown in events, timings and errors, and the function."""

    name: str
    run: PhaseFn
