"""What a phase is: a named function from (Context, World) to a Result; and how it stops."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import msgspec
from returns.result import Failure, Result

from plancontrol.core.context import Context
from plancontrol.core.errors import Error
from plancontrol.core.ports import World

__all__ = [
    "Again",
    "Go",
    "Halt",
    "Phase",
    "PhaseFn",
    "PhaseResult",
    "StepFn",
    "StepGate",
    "StepResult",
    "halt",
]


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


class Again(NamedTuple):
    """A step to run once more (the approver asked for it), with the feedback it gets."""

    context: Context
    feedback: str


class Go(NamedTuple):
    """A step approved to run, with the approver's feedback ("" for none)."""

    feedback: str


PhaseResult = Result[Context, Halt]
PhaseFn = Callable[[Context, World], PhaseResult]
StepResult = Result[Context | Again, Halt]
StepFn = Callable[[Context, World, int, str], StepResult]
"""``(ctx, world, step, feedback) -> StepResult``: one run of one plan step."""
StepGate = Callable[[Context, World, int], Result[Go | Context, Halt] | None]
"""``(ctx, world, step)``: the approval before a step; None when nobody is asked, ``Go`` to
run it, a Context when the step was settled without running (skipped)."""


def halt(ctx: Context, error: Error) -> PhaseResult:
    """Stop with ``error``, keeping ``ctx``."""
    return Failure(Halt(error, ctx))


@dataclass(frozen=True, slots=True)
class Phase:
    """A pipeline entry: the name shown in events, timings and errors, and the function.

    A phase with ``step`` carries out a plan: ``run`` prepares it, then the runner runs
    ``step`` for each plan step still to do, each a unit of its own (``step-NN``), after
    ``gate`` (the step's approval) when there is one."""

    name: str
    run: PhaseFn
    step: StepFn | None = None
    gate: StepGate | None = None
