"""The library's entry points, as the command line has them: run, resume, fork and replay."""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Unpack

from returns.result import Failure, Result, Success

from plancontrol.app.going import going_on
from plancontrol.app.new_run import Work, prepare, record_new
from plancontrol.app.session import (
    Say,
    Stopped,
    continue_run,
    fresh,
    locked,
    record,
    unattended,
)
from plancontrol.core.context import Context, Value
from plancontrol.core.pipeline import CONTROL, PLANNING_AND_CONTROL, Pipeline
from plancontrol.core.problem import Problem
from plancontrol.handlers.defaults import MODEL_TIMEOUT
from plancontrol.handlers.policy import Override, ReasoningEffort
from plancontrol.handlers.routes import Route, StructuredMode
from plancontrol.handlers.secrets import Scrubber
from plancontrol.recording.many import RunReplay
from plancontrol.recording.replay import ReplayOutcome
from plancontrol.recording.wiring import Handlers, Tools, model_agents

if TYPE_CHECKING:
    from plancontrol.app.changes import ChangeArgs
    from plancontrol.core.plan import Plan

__all__ = ["Stopped", "demo", "fork", "replay", "replay_many", "report", "resume", "run"]


def _quiet(_: str) -> None:
    return None


def _tooled(handlers: Handlers | None, tools: Tools | None) -> Handlers | None:
    """``handlers`` with ``tools`` for the roles' models (when given)."""
    if tools is None:
        return handlers
    return dataclasses.replace(handlers or unattended(), tools=tools)


def _stopping(handlers: Handlers | None, step: int | None) -> Handlers | None:
    """``handlers`` whose signals also stop the run after plan step ``step`` (when given)."""
    if step is None:
        return handlers
    from plancontrol.handlers.callbacks import AllSignals
    from plancontrol.handlers.local import StopAfterStep

    chosen = handlers or unattended()
    return dataclasses.replace(chosen, signals=AllSignals(chosen.signals, StopAfterStep(step)))


def run(
    task: str,
    run_dir: Path | str,
    *,
    model: str | None = None,
    role_models: Sequence[tuple[str, str]] = (),
    base_url: str | None = None,
    structured: StructuredMode | None = None,
    timeout: float = MODEL_TIMEOUT,
    max_retries: int = 2,
    settings: Mapping[str, Any] | None = None,
    handlers: Handlers | None = None,
    tools: Tools | None = None,
    env: Mapping[str, str] | None = None,
    say: Say = _quiet,
    reasoning_effort: ReasoningEffort | None = None,
    params: Sequence[Override] = (),
    prices: Sequence[tuple[str, float, float]] = (),
    max_tokens: int | None = None,
    variables: Mapping[str, Value] | None = None,
    pipeline: Pipeline | None = None,
    plan: Plan | None = None,
) -> Result[Context, Stopped]:
    """Plan ``task``, review the plan and carry it out with real models, recording it all
    in the new folder ``run_dir`` (refused when it holds files).

    ``pipeline`` runs a pipeline of your own (composed with ``insert_after``, or written
    out) in place of planning and control; each of its phases' functions must be importable
    (defined at module level), and the manifest records them so that replay, resume and fork
    rebuild it. ``plan`` carries out a plan you give (``plancontrol.core.plan_files`` reads
    plan.json and CMBAgent's final_plan.json) with no planner call: the pipeline is then
    ``CONTROL`` unless you give one; a given plan is not held to ``max_plan_steps``.

    ``variables`` are shared with the agents: an instruction that names one as ``{name}``
    (``settings`` ``engineer_instructions="Explain it to {audience}."``) is told with its
    value; a placeholder no variable fills is refused before any model is asked.

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
    ``tools`` gives roles Python functions their models may call (ag2 tools, by role name,
    as ``Handlers.tools``). An executor, approver or tools of your own are recorded through
    the journal: a replay serves what they returned without calling them.

    What cannot run is refused before any model is asked anything: an empty task, models
    that cannot be reached, approvals with nobody to ask.
    """
    from plancontrol.app.routing import ModelChoice

    if not task.strip():
        return Failure(
            Problem(what="the task is empty: say what the agents should do", where="task")
        )
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
    work = Work(pipeline or (CONTROL if plan else PLANNING_AND_CONTROL), plan, variables or {})
    match prepare(choice, settings or {}, handlers, env, work):
        case Failure(problem):
            return Failure(problem)
        case Success(prepared):
            chosen = _tooled(prepared.handlers, tools) or prepared.handlers
            return record_new(Path(run_dir), task, prepared._replace(handlers=chosen), env, say)
    raise AssertionError("unreachable")  # pragma: no cover


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
        refused = fresh(stack, folder)
        if refused:
            return Failure(refused)
        say(f"plancontrol demo: {DEMO_TASK}")
        say(f"the model is scripted; the engineer's code really runs, in {folder / WORK}")
        settings = Settings(default_model=DEMO_MODEL)
        server = stack.enter_context(demo_server())
        route = Route(base_url=server.base_url, free=True, max_retries=0)
        agents = stack.enter_context(model_agents(route, {}, {}))
        write_manifest(folder, DEMO_TASK, settings, route, ())
        start = Context(task=DEMO_TASK, settings=settings)
        chosen = handlers or unattended()
        return record(folder, None, start, agents, chosen, Scrubber(()), "run")


def resume(
    run_dir: Path | str,
    *,
    from_step: int | None = None,
    handlers: Handlers | None = None,
    tools: Tools | None = None,
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
    it goes on with is recorded in the new session, and replays. ``handlers`` and ``tools``
    are taken as ``run`` takes them (give them again: they are not in the run folder)."""
    from plancontrol.app.changes import Changes, next_step
    from plancontrol.runs.resume import start_point

    folder = Path(run_dir)
    with contextlib.ExitStack() as stack:  # one writer at a time: the folder's lock held
        match locked(stack, folder).bind(lambda _: start_point(folder, from_step)):
            case Failure(problem):
                return Failure(problem)
            case Success(point):
                pass
        changed = Changes.of(changes)
        step = from_step or next_step(point.label, point.context)
        if changed.instructions and not step:
            return Failure(
                Problem(
                    what=f"{folder} has no plan step left to give instructions to (its plan is "
                    "not approved yet, or its last step is done)",
                    where="instructions",
                    fix="resume without them, or with settings.plan_instructions",
                )
            )
        match going_on(point, changed, step or 0, handlers, env):
            case Failure(problem):
                return Failure(problem)
            case Success(going):
                chosen = _tooled(handlers, tools)
                return continue_run(folder, point, going, "resume", chosen, say)
    raise AssertionError("unreachable")  # pragma: no cover


def fork(
    run_dir: Path | str,
    into: Path | str,
    *,
    from_step: int,
    handlers: Handlers | None = None,
    tools: Tools | None = None,
    env: Mapping[str, str] | None = None,
    say: Say = _quiet,
    stop_after_step: int | None = None,
    **changes: Unpack[ChangeArgs],
) -> Result[Context, Stopped]:
    """Branch the run in ``run_dir`` at step ``from_step`` into the new folder ``into``:
    the steps before it are the original's, with their recording; the rest runs live on the
    context edited by ``settings`` and ``sets`` (``KEY=VALUE`` for a shared variable,
    ``settings.NAME=VALUE`` for a setting) and ``instructions`` (added to the step's own),
    with the models and limits changed as ``resume`` changes them, ``handlers`` and
    ``tools`` as ``resume`` takes them. ``stop_after_step`` K stops the fork once step K
    is settled (a cancel at the safe point before step K+1, resumable). The original is not
    changed."""
    from plancontrol.app.changes import Changes
    from plancontrol.runs.lock import holder, in_use
    from plancontrol.runs.resume import already_there, prepare_fork, start_point

    folder, target = Path(run_dir), Path(into)
    if stop_after_step is not None and stop_after_step < from_step:
        what = f"`stop_after_step={stop_after_step}` comes before `from_step={from_step}`"
        fix = "stop at the step the fork starts with or a later one"
        return Failure(Problem(what=what, where="stop_after_step", fix=fix))
    writer = holder(folder)
    if writer is not None:  # its snapshots and work folder are still changing
        return Failure(in_use(folder, writer))
    changed = Changes.of(changes)
    match start_point(folder, from_step).bind(
        lambda point: going_on(point, changed, from_step, handlers, env).map(
            lambda going: (point, going)
        )
    ):
        case Failure(problem):
            return Failure(problem)
        case Success((point, going)):
            pass
    with contextlib.ExitStack() as stack:
        refused = fresh(stack, target, already_there(target))
        if refused:
            return Failure(refused)
        match prepare_fork(point, folder, target, from_step):
            case Failure(problem):
                return Failure(problem)
        chosen = _stopping(_tooled(handlers, tools), stop_after_step)
        return continue_run(target, point, going, "fork", chosen, say)


def replay(
    run_dir: Path | str,
    *,
    part: str | None = None,
    rerun_code: float | None = None,
    lenient: bool = False,
    events: Any = None,
    pipeline: str | None = None,
    tools: Tools | None = None,
) -> Result[ReplayOutcome, Problem]:
    """Replay the run in ``run_dir`` offline (see ``plancontrol.recording.replay``): the whole
    run, or one ``part`` (a phase such as ``"review"`` or a step such as ``"step-02"``);
    ``rerun_code`` (a timeout in seconds) runs the recorded scripts again and compares. The
    pipeline is rebuilt from the manifest; ``pipeline`` (``MODULE:NAME``) names where it
    lives now when its module moved. ``tools`` are the roles' tools the run was given: their
    calls are answered from the journal, never made."""
    from plancontrol.recording.replay import replay_part, replay_run

    if part is not None:
        return replay_part(Path(run_dir), part, events, pipeline=pipeline, tools=tools)
    from plancontrol.app.report.render import with_report_checked

    played = replay_run(Path(run_dir), events, lenient, rerun_code, pipeline, tools)
    return played.map(lambda outcome: with_report_checked(Path(run_dir), outcome))


def replay_many(
    paths: Sequence[Path | str] | Path | str, *, workers: int | None = None
) -> Result[tuple[RunReplay, ...], Problem]:
    """Replay many run folders offline, ``workers`` at a time in processes of their own (one
    per CPU when not given): each path a run folder or a folder holding runs one level down
    (a batch); each run's ``RunReplay`` (``status`` ``identical``, ``differs`` or
    ``cannot_replay``, ``detail`` saying where or why, ``seconds``) in the paths' order;
    each run's report.html is checked as ``replay`` checks it.
    A Failure, with nothing replayed, when a path is no folder or ``workers`` is below 1
    (one path alone may be given as it is)."""
    from plancontrol.app.report.render import with_report_checked
    from plancontrol.recording.many import replay_many as replayed

    named = [paths] if isinstance(paths, str | Path) else paths
    count = workers if workers is not None else os.cpu_count() or 1
    return replayed(named, count, check=with_report_checked)


def report(run_dir: Path | str, html: Path | str | None = None) -> Result[Path, Problem]:
    """Write the run in ``run_dir`` as one self-contained HTML page (``plancontrol report``):
    to ``html``, by default ``run_dir/report.html``; the file written, or the Problem (not a
    run folder, a file not ending in .html, a place that cannot be written)."""
    from plancontrol.app.report import write_report

    return write_report(Path(run_dir), None if html is None else Path(html))
