"""CMBAgent's ``deep_research`` knobs as a new run takes them: what it refuses up front."""

from __future__ import annotations

from plancontrol.core.plan import Plan
from plancontrol.core.problem import Problem
from plancontrol.core.restart import unreachable_restart
from plancontrol.core.settings import Settings

__all__ = ["unreachable_in_new_run"]


def unreachable_in_new_run(settings: Settings, plan: Plan | None = None) -> Problem | None:
    """Why a new run (no step done yet; ``plan`` given, or None for the planner to write)
    cannot start at ``settings.restart_at_step``; None when it can. CMBAgent's
    ``restart_at_step`` goes on from a recorded run, which here is ``resume --from-step``.

    >>> refused = unreachable_in_new_run(Settings(restart_at_step=5))
    >>> refused.where
    'settings.restart_at_step'
    >>> for part in refused.message.split("; "):
    ...     print(part)
    cannot restart at step 5: a plan has at most 3 step(s) (max_plan_steps)
    pick a step from 1 to 3
    to run a recorded run again from step 5, resume it: `resume(run_dir=RUN, from_step=5)`
    >>> unreachable_in_new_run(Settings(restart_at_step=1)) is None
    True
    """
    problem = unreachable_restart(settings, plan)
    if problem is None:
        return None
    return Problem(
        what=problem.message,
        where="settings.restart_at_step",
        fix=f"to run a recorded run again from step {problem.step}, resume it: "
        f"`resume(run_dir=RUN, from_step={problem.step})`",
    )
