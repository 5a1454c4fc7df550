"""The library's entry points, as the command line has them: run, resume, fork and replay."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Unpack

from msgspec.structs import replace
from returns.result import Failure, Result, Success

from plancontrol.core.context import Context
from plancontrol.core.phase import Halt
from plancontrol.core.ports import Agents
from plancontrol.handlers.ag2_agents import Ag2Agents
from plancontrol.handlers.policy import Override, ReasoningEffort
from plancontrol.handlers.routes import Route, StructuredMode
from plancontrol.handlers.secrets import Scrubber
from plancontrol.recording.record import Handlers
from plancontrol.recording.replay import ReplayOutcome
from plancontrol.runs.resume import StartPoint

if TYPE_CHECKING:
    from plancontrol.app.changes import ChangeArgs, Changes
    from plancontrol.app.routing import ModelPlan
    from plancontrol.core.settings import Settings
    from plancontrol.runs.folder import RunOptions

__all__ = ["Stopped", "demo", "fork", "replay", "resume", "run"]

Stopped = Halt | str
"""Why a run did not finish: a ``Halt`` when the workflow stopped (the error and the context
as it stood; the CLI's exit status 1), or one line saying what was wrong with the input and
how to fix it, before anything was written (exit status 2)."""

Say = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


def run(
    task: str,
    run_dir: Path | str,
    *,
    model: str | None = None,
    role_models: Sequence[tuple[str, str]] = (),
    base_url: str | None = None,
    structured: StructuredMode | None = None,
    timeout: float = 120.0,
    max_retries: int = 2,
    settings: Mapping[str, Any] | None = None,
    handlers: Handlers | None = None,
    env: Mapping[str, str] | None = None,
    say: Say = _quiet,
    reasoning_effort: ReasoningEffort | None = None,
    params: Sequence[Override] = (),
    prices: Sequence[tuple[str, float, float]] = (),
    max_tokens: int | None = None,
) -> Result[Context, Stopped]:
    """Plan ``task``, review the plan and carry it out with real models, recording it all
    in the new folder ``run_dir`` (refused when it holds files).

    ``max_tokens`` caps every reply (by default the embedded model and a ``base_url``
    server get ``plancontrol.app.routing.SERVER_MAX_TOKENS``, a hosted model none).
    ``reasoning_effort`` goes to the models whose family takes one, ``params`` override the
    parameter policy per role (``plancontrol.handlers.policy``), ``prices`` price models the table
    does not list (model, dollars per million prompt and completion tokens).

    Models are chosen as ``plancontrol run`` chooses them: ``model="local"`` for the embedded
    model, ``base_url`` for an OpenAI-compatible server, else a provider by the model's name
    with its key from ``env`` (the process environment by default); ``timeout`` and
    ``max_retries`` apply to each model call (the SDK retries 429s, 5xx and timeouts with
    back-off; a replay repeats the same back-off). ``settings`` are
    validated like a config file's (``{"max_plan_steps": 4, "approval": "on_error"}``).
    ``say`` receives one-line notices (which model is used, the embedded server starting).
    ``handlers`` (watching, approving, the scripts' timeout and installs) are recorded in
    the manifest; a setting that asks for approvals needs one with an approver.

    What cannot run is refused before any model is asked anything: an empty task, models
    that cannot be reached, approvals with nobody to ask.
    """
    from plancontrol.app.changes import runnable
    from plancontrol.app.routing import ModelChoice, budget_problem, plan_models
    from plancontrol.core.settings import load_settings
    from plancontrol.handlers.interpreter import describe_python, python_path
    from plancontrol.runs.folder import manifest_reads, write_manifest
    from plancontrol.servers.embedded import LOCAL_INSTALL_HINT, local_model_available

    if not task.strip():
        return Failure("the task is empty: say what the agents should do")
    env = os.environ if env is None else env
    choice = ModelChoice(
        model=model,
        role_models=tuple(role_models),
        base_url=base_url,
        structured=structured,
        timeout=timeout,
        max_retries=max_retries,
        reasoning_effort=reasoning_effort,
        max_tokens=max_tokens,
        overrides=tuple(params),
        prices=tuple(prices),
    )
    match runnable(plan_models(choice, env, local_model_available(), LOCAL_INSTALL_HINT)):
        case Failure(problem):
            return Failure(problem)
        case Success(models):
            pass
    knobs = {
        **(settings or {}),
        "default_model": models.default_model,
        "role_models": [{"role": r, "model": m} for r, m in models.role_models],
    }
    match load_settings(knobs):
        case Failure(invalid):
            return Failure(invalid.message)
        case Success(loaded):
            pass
    unasked = _no_approver(loaded, handlers) or budget_problem(loaded, models)
    if unasked:
        return Failure(unasked)
    chosen = handlers or _unattended()
    chosen = dataclasses.replace(chosen, python=python_path(chosen.python))
    match describe_python(chosen.python or sys.executable, env):  # told to the code roles
        case Failure(problem):
            return Failure(problem)
        case Success(interpreter):
            pass
    folder = Path(run_dir)
    with contextlib.ExitStack() as stack:
        refused = _fresh(stack, folder)
        if refused:
            return Failure(refused)
        if models.notice:
            say(models.notice)
        keys = (models.default.api_key, *(route.api_key for _, route in models.routes))
        scrubber = _scrubber(env, keys)
        started = _agents(stack, models.default, models.routes, say, folder)
        if isinstance(started, str):
            return Failure(started)
        agents, default, local_name = started
        if local_name is not None:
            loaded = replace(loaded, default_model=local_name)
        scrub = scrubber.checked(manifest_reads)  # the manifest must read back, scrubbed
        manifest = write_manifest(
            folder,
            task,
            loaded,
            default,
            models.routes,
            scrub,
            code_timeout=chosen.code_timeout,
            allow_install=chosen.allow_install,
            python=chosen.python,
            pass_env=chosen.pass_env,
            interpreter=interpreter,
        )
        return _record(
            folder,
            None,
            Context(task=task, settings=loaded),
            agents,
            chosen,
            scrubber,
            command="run",
            options=manifest.options,
        )


def demo(
    run_dir: Path | str, *, handlers: Handlers | None = None, say: Say = _quiet
) -> Result[Context, Stopped]:
    """The offline demo, recorded in the new folder ``run_dir``: a scripted model server on
    127.0.0.1 (no key, no network) and real scripts; it replays, resumes and forks like any
    run."""
    from plancontrol.app.demo import DEMO_MODEL, DEMO_TASK, demo_server
    from plancontrol.core.settings import Settings
    from plancontrol.runs.folder import write_manifest
    from plancontrol.runs.resume import WORK

    folder = Path(run_dir)
    with contextlib.ExitStack() as stack:
        refused = _fresh(stack, folder)
        if refused:
            return Failure(refused)
        say(f"plancontrol demo: {DEMO_TASK}")
        say(f"the model is scripted; the engineer's code really runs, in {folder / WORK}")
        settings = Settings(default_model=DEMO_MODEL)
        server = stack.enter_context(demo_server())
        route = Route(base_url=server.base_url, free=True, max_retries=0)
        agents = stack.enter_context(Ag2Agents(route, {}))
        write_manifest(folder, DEMO_TASK, settings, route, ())
        start = Context(task=DEMO_TASK, settings=settings)
        chosen = handlers or _unattended()
        return _record(folder, None, start, agents, chosen, Scrubber(()), "run")


def resume(
    run_dir: Path | str,
    *,
    from_step: int | None = None,
    handlers: Handlers | None = None,
    env: Mapping[str, str] | None = None,
    say: Say = _quiet,
    **changes: Unpack[ChangeArgs],
) -> Result[Context, Stopped]:
    """Continue the run in ``run_dir`` from its last snapshot (or, with ``from_step`` K,
    run step K and the rest again, the steps before it taken from the recording), as a new
    session in the same folder.

    It goes on as the run was last recorded (models, servers, timeouts, the scripts'
    ``code_timeout`` and ``allow_install``, settings), except for what ``changes`` give
    (``model``, ``role_models``, ``base_url``, ``structured``, ``timeout``,
    ``max_retries``, ``reasoning_effort``, ``max_tokens``, ``code_timeout``,
    ``allow_install``, ``python``, ``pass_env``, ``settings``, ``sets``, ``instructions``: see
    ``plancontrol.app.changes.ChangeArgs``), each as ``run`` takes it (a new ``python`` is
    described to the code roles again):
    ``base_url=""`` drops a recorded server; ``settings`` by name
    (``{"max_n_attempts": 5}``), then ``sets`` (``KEY=VALUE``: a shared variable, or
    ``settings.NAME=VALUE``); ``instructions`` are added to the step it starts with. What
    it goes on with is recorded in the new session, and replays."""
    from plancontrol.app.changes import Changes, next_step
    from plancontrol.runs.resume import start_point

    folder = Path(run_dir)
    with contextlib.ExitStack() as stack:  # one writer at a time: the folder's lock held
        match _locked(stack, folder).bind(lambda _: start_point(folder, from_step)):
            case Failure(problem):
                return Failure(problem)
            case Success(point):
                pass
        changed = Changes.of(changes)
        step = from_step or next_step(point.label, point.context)
        if changed.instructions and not step:
            return Failure(
                f"{folder} has no plan step left to give instructions to (its plan is not "
                "approved yet, or its last step is done); resume without them, or with "
                "settings.plan_instructions"
            )
        match _next(point, changed, step or 0, handlers, env):
            case Failure(problem):
                return Failure(problem)
            case Success(going):
                return _continue(folder, point, going, "resume", handlers, say)
    raise AssertionError("unreachable")  # pragma: no cover


def fork(
    run_dir: Path | str,
    into: Path | str,
    *,
    from_step: int,
    handlers: Handlers | None = None,
    env: Mapping[str, str] | None = None,
    say: Say = _quiet,
    **changes: Unpack[ChangeArgs],
) -> Result[Context, Stopped]:
    """Branch the run in ``run_dir`` at step ``from_step`` into the new folder ``into``:
    the steps before it are the original's, with their recording; the rest runs live on the
    context edited by ``settings`` and ``sets`` (``KEY=VALUE`` for a shared variable,
    ``settings.NAME=VALUE`` for a setting) and ``instructions`` (added to the step's own),
    with the models and limits changed as ``resume`` changes them. The original is not
    changed."""
    from plancontrol.app.changes import Changes
    from plancontrol.runs.lock import holder, in_use
    from plancontrol.runs.resume import prepare_fork, start_point

    folder, target = Path(run_dir), Path(into)
    writer = holder(folder)
    if writer is not None:  # its snapshots and work folder are still changing
        return Failure(in_use(folder, writer))
    changed = Changes.of(changes)
    match start_point(folder, from_step).bind(
        lambda point: _next(point, changed, from_step, handlers, env).map(
            lambda going: (point, going)
        )
    ):
        case Failure(problem):
            return Failure(problem)
        case Success((point, going)):
            pass
    with contextlib.ExitStack() as stack:
        refused = _fresh(
            stack, target, f"{target} already exists and is not empty; choose another `into`"
        )
        if refused:
            return Failure(refused)
        match prepare_fork(point, folder, target, from_step):
            case Failure(problem):
                return Failure(problem)
        return _continue(target, point, going, "fork", handlers, say)


def replay(
    run_dir: Path | str,
    *,
    part: str | None = None,
    rerun_code: float | None = None,
    lenient: bool = False,
    events: Any = None,
) -> Result[ReplayOutcome, str]:
    """Replay the run in ``run_dir`` offline (see ``plancontrol.recording.replay``): the whole run,
    or one ``part`` (a phase such as ``"review"`` or a step such as ``"step-02"``);
    ``rerun_code`` (a timeout in seconds) runs the recorded scripts again and compares."""
    from plancontrol.recording.replay import replay_part, replay_run

    if part is not None:
        return replay_part(Path(run_dir), part, events)
    return replay_run(Path(run_dir), events, lenient, rerun_code)


def _fresh(stack: contextlib.ExitStack, folder: Path, refusal: str = "") -> str | None:
    """Why ``folder`` cannot take a new run (it holds files: ``refusal``; or another process
    writes it), or None after creating it and taking its lock until ``stack`` closes."""
    from plancontrol.runs.lock import lock_new

    refusal = refusal or (
        f"run folder {folder} already exists and is not empty; choose another folder "
        "(`run_dir`) or remove it"
    )
    match lock_new(folder, refusal):
        case Success(held):
            stack.enter_context(held)
            return None
        case Failure(problem):
            return str(problem)
    raise AssertionError("unreachable")  # pragma: no cover


def _locked(stack: contextlib.ExitStack, folder: Path) -> Result[None, str]:
    """Take the lock of the run in ``folder`` until ``stack`` closes (refused while another
    process writes it); a folder that is not a run is left untouched, for the caller's
    checks to name."""
    from plancontrol.runs.folder import read_manifest
    from plancontrol.runs.lock import lock

    if isinstance(read_manifest(folder), Failure):
        return Success(None)
    return lock(folder).map(stack.enter_context).map(lambda _: None)


def _scrubber(env: Mapping[str, str], keys: Sequence[str | None]) -> Scrubber:
    """Removes the shell's secret variables, the keys in use and key-shaped strings."""
    from plancontrol.handlers.secrets import secret_values

    return Scrubber((*secret_values(env), *(k for k in keys if k)))


def _agents(
    stack: contextlib.ExitStack,
    default: Route,
    routes: Sequence[tuple[str, Route]],
    say: Say,
    folder: Path,
) -> tuple[Agents, Route, str | None] | str:
    """The real agents for these routes, on the embedded model (started here, stopped with
    ``stack``) when the default route is it; also the route used and the local model's
    name. A server that cannot start is a one-line reason. The structured-output modes
    earlier sessions of the run in ``folder`` settled on are kept; one settled now is said
    and journaled in the session about to be recorded."""
    from plancontrol.recording.negotiation import JournalSettle, modes_before
    from plancontrol.recording.record import next_session
    from plancontrol.servers.embedded import LocalModelServer

    local_name = None
    if default.embedded:
        say("starting the embedded model server…")
        try:
            server = stack.enter_context(LocalModelServer())
        except RuntimeError as exc:
            return str(exc).splitlines()[0]
        default = replace(default, base_url=server.base_url)
        local_name = server.model_name
    number = next_session(folder)
    agents = Ag2Agents(
        default,
        dict(routes),
        modes=modes_before(folder, number),
        on_settle=JournalSettle(folder, number, say),
    )
    return stack.enter_context(agents), default, local_name


@dataclass(frozen=True)
class _Going:
    """What a resume or fork goes on with: its start, its models, what its session records."""

    start: Context
    models: ModelPlan
    options: RunOptions
    env: Mapping[str, str]


def _next(
    point: StartPoint,
    changes: Changes,
    step: int,
    handlers: Handlers | None,
    env: Mapping[str, str] | None,
) -> Result[_Going, str]:
    """The models, start and options a resume or fork goes on with: as recorded, changed by
    ``changes``, every one checked before anything is written or asked."""
    from plancontrol.app.changes import (
        model_settings,
        models_after,
        options_of,
        recorded_options,
        runnable,
    )
    from plancontrol.app.routing import budget_problem
    from plancontrol.runs.resume import edit_context
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
    knobs = {**model_settings(models), **changes.settings}
    match edit_context(point.context, step, changes.sets, changes.instructions, knobs):
        case Failure(problem):
            return Failure(problem)
        case Success(start):
            pass
    unasked = _no_approver(start.settings, handlers) or budget_problem(start.settings, models)
    if unasked:
        return Failure(unasked)
    match _scripts_python(recorded, changes, env):
        case Failure(problem):
            return Failure(problem)
        case Success((python, interpreter)):
            pass
    options = options_of(
        models,
        recorded.code_timeout if changes.code_timeout is None else changes.code_timeout,
        recorded.allow_install if changes.allow_install is None else changes.allow_install,
    )
    options = replace(  # the scripts' interpreter and environment: as recorded, or changed
        options,
        python=python,
        pass_env=recorded.pass_env if changes.pass_env is None else changes.pass_env,
        interpreter=interpreter,
    )
    return Success(_Going(start, models, options, env))


def _scripts_python(
    recorded: RunOptions, changes: Changes, env: Mapping[str, str]
) -> Result[tuple[str, str], str]:
    """The interpreter a resume or fork runs scripts with, and what the code roles are told
    of it: as recorded, or the one ``changes`` name, asked again (refused when it cannot run)."""
    from plancontrol.handlers.interpreter import describe_python, python_path

    if changes.python is None:
        return Success((recorded.python, recorded.interpreter))
    python = python_path(changes.python)
    return describe_python(python or sys.executable, env).map(lambda told: (python, told))


def _no_approver(settings: Settings, handlers: Handlers | None) -> str | None:
    """Why the run cannot start: its settings ask for approvals and nobody is there to ask."""
    if settings.approval == "none" or handlers is not None:
        return None
    return (
        f"settings.approval is {settings.approval!r} but no approver was given to ask: pass "
        "handlers with an approver (plancontrol.CallableApprover wraps a function), or set "
        "approval to 'none'"
    )


def _continue(
    folder: Path,
    point: StartPoint,
    going: _Going,
    command: str,
    handlers: Handlers | None,
    say: Say,
) -> Result[Context, Stopped]:
    """Record a session of the run in ``folder`` from ``going.start``, on its models."""
    from dataclasses import replace as changed

    from plancontrol.app.demo import DEMO_MODEL, demo_server

    default, routes = going.models.default, going.models.routes
    keys = (default.api_key, *(route.api_key for _, route in routes))
    start = going.start
    with contextlib.ExitStack() as stack:
        if start.settings.default_model == DEMO_MODEL and not default.embedded:
            default = replace(default, base_url=stack.enter_context(demo_server()).base_url)
        started = _agents(stack, default, routes, say, folder)
        if isinstance(started, str):
            return Failure(started)
        agents, _, local_name = started
        if local_name is not None:
            start = replace(start, settings=replace(start.settings, default_model=local_name))
        chosen = changed(
            handlers or _unattended(),
            code_timeout=going.options.code_timeout,
            allow_install=going.options.allow_install,
            python=going.options.python,
            pass_env=going.options.pass_env,
        )
        return _record(
            folder,
            point.label,
            start,
            agents,
            chosen,
            _scrubber(going.env, keys),
            command,
            going.options,
        )


def _record(
    folder: Path,
    starts_after: str | None,
    start: Context,
    agents: Agents,
    handlers: Handlers,
    scrubber: Scrubber,
    command: str,
    options: RunOptions | None = None,
) -> Result[Context, Stopped]:
    from plancontrol.core.pipeline import PLANNING_AND_CONTROL, phases_after
    from plancontrol.recording.record import record_session

    return record_session(
        folder,
        phases_after(PLANNING_AND_CONTROL, starts_after),
        start,
        agents,
        handlers,
        scrubber,
        command=command,
        starts_after=starts_after,
        options=options,
    )


def _unattended() -> Handlers:
    from plancontrol.handlers.local import ApproveAll, DiscardEvents, Uninterrupted

    return Handlers(events=DiscardEvents(), approver=ApproveAll(), signals=Uninterrupted())
