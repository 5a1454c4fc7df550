"""Whether a run can reach its ``restart_at_step``, known before any model call; no I/O."""

from __future__ import annotations

from collections.abc import Collection

from plancontrol.core.errors import RestartOutOfRange
from plancontrol.core.plan import Plan
from plancontrol.core.settings import Settings

__all__ = ["unreachable_restart"]


def unreachable_restart(
    settings: Settings, plan: Plan | None = None, settled: Collection[int] = ()
) -> RestartOutOfRange | None:
    """Why control cannot start at ``settings.restart_at_step``, or None when it can (or when
    it is 0: start at the first step not settled). ``plan`` is the plan the run carries out,
    None when the planner has yet to write it (then no plan can have more than
    ``max_plan_steps`` steps); ``settled`` the steps completed or skipped so far, every one
    before the restart step must be.

    >>> from plancontrol.core.plan import Step
    >>> print(unreachable_restart(Settings(restart_at_step=4, max_plan_steps=3)).message)
    cannot restart at step 4: a plan has at most 3 step(s) (max_plan_steps); pick a step from 1 to 3
    >>> two = Plan((Step("a", "engineer"), Step("b", "researcher")))
    >>> print(unreachable_restart(Settings(restart_at_step=3, max_plan_steps=5), two).message)
    cannot restart at step 3: the plan has 2 step(s); pick a step from 1 to 2
    >>> print(unreachable_restart(Settings(restart_at_step=2), two).message)
    cannot restart at step 2: step 1 has not completed; restart at step 1
    >>> unreachable_restart(Settings(restart_at_step=2), two, settled=(1,)) is None
    True
    """
    k = settings.restart_at_step
    if k == 0:
        return None
    if plan is None and k > settings.max_plan_steps:
        most = settings.max_plan_steps
        detail = f"a plan has at most {most} step(s) (max_plan_steps); pick a step from 1 to {most}"
        return RestartOutOfRange(step=k, n_steps=most, detail=detail)
    if plan is not None and k > plan.n_steps:
        n = plan.n_steps
        detail = f"the plan has {n} step(s); pick a step from 1 to {n}"
        return RestartOutOfRange(step=k, n_steps=n, detail=detail)
    n_steps = settings.max_plan_steps if plan is None else plan.n_steps
    missing = next((n for n in range(1, k) if n not in settled), None)
    if missing is not None:
        detail = f"step {missing} has not completed; restart at step {missing}"
        return RestartOutOfRange(step=k, n_steps=n_steps, detail=detail)
    return None
