"""A pipeline with a phase of its own: planning and control, and a check after the review."""

from __future__ import annotations

from msgspec.structs import replace
from returns.result import Success

from plancontrol import PLANNING_AND_CONTROL, Context, Phase, PhaseResult, World, insert_after


def count_steps(ctx: Context, world: World) -> PhaseResult:
    """Share the number of planned steps with the agents, as the variable ``n_steps``."""
    assert ctx.plan is not None
    return Success(replace(ctx, variables=ctx.variables.set("n_steps", ctx.plan.n_steps)))


PIPELINE = insert_after(PLANNING_AND_CONTROL, "review", Phase("count_steps", count_steps))
