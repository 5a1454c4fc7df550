"""What a resume or fork goes on with: its start, models and options, checked before it runs."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass

from msgspec.structs import replace
from returns.result import Failure, Result, Success

from plancontrol.app.changes import Changes
from plancontrol.app.routing import ModelPlan
from plancontrol.core.context import Context
from plancontrol.core.pipeline import PLANNING_AND_CONTROL, Pipeline
from plancontrol.core.problem import Problem
from plancontrol.core.settings import Settings
from plancontrol.core.variables import check_variables
from plancontrol.recording.pipelines import recorded_pipeline
from plancontrol.recording.wiring import Handlers
from plancontrol.runs.folder import RunOptions
from plancontrol.runs.resume import StartPoint

__all__ = ["Going", "going_on", "no_approver", "scripts_python"]


@dataclass(frozen=True)
class Going:
    """What a resume or fork goes on with: its start, its models, what its session records."""

    start: Context
    models: ModelPlan
    options: RunOptions
    env: Mapping[str, str]
    pipeline: Pipeline = PLANNING_AND_CONTROL
    """The pipeline the run was recorded with, rebuilt from its manifest."""


def going_on(
    point: StartPoint,
    changes: Changes,
    step: int,
    handlers: Handlers | None,
    env: Mapping[str, str] | None,
) -> Result[Going, Problem]:
    """The models, start and options a resume or fork goes on with: as recorded, changed by
    ``changes``, every one checked before anything is written or asked."""
    from plancontrol.app.changes import models_after, recorded_options, runnable
    from plancontrol.servers.embedded import LOCAL_INSTALL_HINT, local_model_available

    env = os.environ if env is None else env
    recorded = recorded_options(point.manifest, point.sessions)
    settings = point.context.settings
    match runnable(
        models_after(settings, recorded, changes, env, local_model_available(), LOCAL_INSTALL_HINT)
    ):
        case Failure(problem):
            return Failure(problem)
        case Success(models):
            pass
    match _edited(point, changes, step, models, handlers).bind(
        lambda start: _options(models, recorded, changes, env).map(lambda o: (start, o))
    ):
        case Failure(problem):
            return Failure(problem)
        case Success((start, options)):
            pass
    pipeline = recorded_pipeline(point.manifest.pipeline)
    return pipeline.map(lambda phases: Going(start, models, options, env, phases))


def _edited(
    point: StartPoint, changes: Changes, step: int, models: ModelPlan, handlers: Handlers | None
) -> Result[Context, Problem]:
    """The context a resume or fork starts from, as ``changes`` edit it, checked: approvals
    with nobody to ask, a budget it cannot count, a variable no one set."""
    from plancontrol.app.changes import model_settings
    from plancontrol.app.routing import budget_problem
    from plancontrol.runs.resume import edit_context

    knobs = {**model_settings(models), **changes.settings}
    match edit_context(point.context, step, changes.sets, changes.instructions, knobs):
        case Failure(problem):
            return Failure(problem)
        case Success(start):
            pass
    unasked = no_approver(start.settings, handlers) or budget_problem(start.settings, models)
    if unasked:
        return Failure(unasked)
    if isinstance(unfilled := check_variables(start.variables, start.settings), Failure):
        return Failure(Problem(what=unfilled.failure().message, where="variables"))
    return Success(start)


def _options(
    models: ModelPlan, recorded: RunOptions, changes: Changes, env: Mapping[str, str]
) -> Result[RunOptions, Problem]:
    """What the session records it runs with: the models, the scripts' limits, interpreter
    and environment, as recorded or changed."""
    from plancontrol.app.changes import options_of

    match scripts_python(recorded, changes, env):
        case Failure(problem):
            return Failure(problem)
        case Success((python, interpreter)):
            pass
    options = options_of(
        models,
        recorded.code_timeout if changes.code_timeout is None else changes.code_timeout,
        recorded.allow_install if changes.allow_install is None else changes.allow_install,
    )
    return Success(
        replace(  # the scripts' interpreter and environment: as recorded, or changed
            options,
            python=python,
            pass_env=recorded.pass_env if changes.pass_env is None else changes.pass_env,
            interpreter=interpreter,
        )
    )


def scripts_python(
    recorded: RunOptions, changes: Changes, env: Mapping[str, str]
) -> Result[tuple[str, str], Problem]:
    """The interpreter a resume or fork runs scripts with, and what the code roles are told
    of it: as recorded, or the one ``changes`` name, asked again (refused when it cannot run)."""
    from plancontrol.handlers.interpreter import describe_python, python_path

    if changes.python is None:
        return Success((recorded.python, recorded.interpreter))
    python = python_path(changes.python)
    return describe_python(python or sys.executable, env).map(lambda told: (python, told))


def no_approver(settings: Settings, handlers: Handlers | None) -> Problem | None:
    """Why the run cannot start: its settings ask for approvals and nobody is there to ask."""
    if settings.approval == "none" or handlers is not None:
        return None
    return Problem(
        what=f"settings.approval is {settings.approval!r} but no approver was given to ask: pass "
        "handlers with an approver (plancontrol.CallableApprover wraps a function), or set "
        "approval to 'none'",
        where="settings.approval",
    )
