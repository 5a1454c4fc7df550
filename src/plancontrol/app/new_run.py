"""A new run's preparation: its models, settings and handlers checked, then its folder recorded."""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from msgspec.structs import replace
from pyrsistent import pmap
from returns.result import Failure, Result, Success

from plancontrol.app.going import no_approver
from plancontrol.app.session import Say, Stopped, fresh, record, scrubber, start_agents, unattended
from plancontrol.core.context import Context, Value
from plancontrol.core.pipeline import Pipeline
from plancontrol.core.problem import Problem
from plancontrol.core.variables import check_variables
from plancontrol.recording.pipelines import describe
from plancontrol.recording.wiring import Handlers

if TYPE_CHECKING:
    from plancontrol.app.routing import ModelChoice, ModelPlan
    from plancontrol.core.plan import Plan
    from plancontrol.core.settings import Settings
    from plancontrol.handlers.routes import Route
    from plancontrol.handlers.secrets import Scrubber
    from plancontrol.runs.folder import Manifest, PhaseRecord

__all__ = ["Prepared", "Work", "prepare", "record_new"]


class Work(NamedTuple):
    """What a new run carries out: its pipeline, the plan it was given, its variables."""

    pipeline: Pipeline
    plan: Plan | None
    variables: Mapping[str, Value]


class Prepared(NamedTuple):
    """What a new run was checked to run with, before anything is written."""

    models: ModelPlan
    settings: Settings
    handlers: Handlers
    interpreter: str
    """What runs the scripts, as the code roles are told."""
    work: Work
    records: tuple[PhaseRecord, ...]
    """The pipeline as the manifest records it."""


def prepare(
    choice: ModelChoice,
    settings: Mapping[str, Any],
    handlers: Handlers | None,
    env: Mapping[str, str],
    work: Work,
) -> Result[Prepared, Problem]:
    """The models, settings, handlers and scripts' interpreter of a new run, every one
    checked: what cannot run is refused here, before any model is asked anything."""
    from plancontrol.handlers.interpreter import describe_python, python_path

    match _models_and_settings(choice, settings, env):
        case Failure(problem):
            return Failure(problem)
        case Success((models, loaded)):
            pass
    refused = _refused(loaded, models, handlers, work)
    if refused is not None:
        return Failure(refused)
    match describe(work.pipeline):
        case Failure(problem):
            return Failure(problem)
        case Success(records):
            pass
    chosen = handlers or unattended()
    chosen = dataclasses.replace(chosen, python=python_path(chosen.python))
    told = describe_python(chosen.python or sys.executable, env)
    return told.map(lambda said: Prepared(models, loaded, chosen, said, work, records))


def _models_and_settings(
    choice: ModelChoice, settings: Mapping[str, Any], env: Mapping[str, str]
) -> Result[tuple[ModelPlan, Settings], Problem]:
    """The models the run can reach, and its settings with them, validated."""
    from plancontrol.app.changes import runnable
    from plancontrol.app.routing import plan_models
    from plancontrol.core.settings import load_settings
    from plancontrol.servers.embedded import LOCAL_INSTALL_HINT, local_model_available

    match runnable(plan_models(choice, env, local_model_available(), LOCAL_INSTALL_HINT)):
        case Failure(problem):
            return Failure(problem)
        case Success(models):
            pass
    knobs = {
        **settings,
        "default_model": models.default_model,
        "role_models": [{"role": r, "model": m} for r, m in models.role_models],
    }
    loaded = load_settings(knobs).alt(lambda e: Problem(what=e.message, where="settings"))
    return loaded.map(lambda ok: (models, ok))


def _refused(
    loaded: Settings, models: ModelPlan, handlers: Handlers | None, work: Work
) -> Problem | None:
    """Why the run cannot start: approvals with nobody to ask, a budget it cannot count, a
    restart step it cannot reach, a plan that cannot run, a variable no one set."""
    from plancontrol.app.cmbagent import unreachable_in_new_run
    from plancontrol.app.routing import budget_problem
    from plancontrol.core.plan import check_plan

    unasked = (
        no_approver(loaded, handlers)
        or budget_problem(loaded, models)
        or unreachable_in_new_run(loaded, work.plan)
    )
    if unasked:
        return unasked
    if work.plan is not None and isinstance(bad := check_plan(work.plan, loaded), Failure):
        return Problem(what=bad.failure().message, where="plan")
    if isinstance(unfilled := check_variables(work.variables, loaded, work.plan), Failure):
        return Problem(what=unfilled.failure().message, where="variables")
    return None


def record_new(
    folder: Path, task: str, prepared: Prepared, env: Mapping[str, str], say: Say
) -> Result[Context, Stopped]:
    """Create the run folder, start the models, write the manifest, record the run."""
    models, chosen = prepared.models, prepared.handlers
    with contextlib.ExitStack() as stack:
        refused = fresh(stack, folder)
        if refused:
            return Failure(refused)
        if models.notice:
            say(models.notice)
        keys = (models.default.api_key, *(route.api_key for _, route in models.routes))
        scrub_keys = scrubber(env, keys)
        started = start_agents(
            stack, models.default, models.routes, say, folder, chosen.tools, scrub_keys.data
        )
        if isinstance(started, Problem):
            return Failure(started)
        agents, default, local_name = started
        loaded = prepared.settings
        if local_name is not None:
            loaded = replace(loaded, default_model=local_name)
        manifest = _write_manifest(folder, task, loaded, default, prepared, scrub_keys)
        work = prepared.work
        start = Context(task=task, settings=loaded, plan=work.plan, variables=pmap(work.variables))
        options = manifest.options
        return record(
            folder, None, start, agents, chosen, scrub_keys, "run", options, work.pipeline
        )


def _write_manifest(
    folder: Path, task: str, loaded: Settings, default: Route, prepared: Prepared, scrub: Scrubber
) -> Manifest:
    """Write the new run's manifest: its task, settings, models, the scripts' limits and
    interpreter, its pipeline; scrubbed of the keys."""
    from plancontrol.runs.folder import manifest_reads, write_manifest

    chosen = prepared.handlers
    return write_manifest(
        folder,
        task,
        loaded,
        default,
        prepared.models.routes,
        scrub.checked(manifest_reads),  # the manifest must read back, scrubbed
        code_timeout=chosen.code_timeout,
        allow_install=chosen.allow_install,
        python=chosen.python,
        pass_env=chosen.pass_env,
        interpreter=prepared.interpreter,
        pipeline=prepared.records,
    )
