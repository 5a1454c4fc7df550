"""One session of a run opened and recorded: its folder locked, models started, secrets kept out."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from msgspec.structs import replace
from returns.result import Failure, Result, Success

from plancontrol.app.going import Going
from plancontrol.core.context import Context
from plancontrol.core.phase import Halt
from plancontrol.core.pipeline import PLANNING_AND_CONTROL, Pipeline, phases_after
from plancontrol.core.ports import Agents
from plancontrol.core.problem import Problem
from plancontrol.handlers.local import ApproveAll, DiscardEvents, Uninterrupted
from plancontrol.handlers.routes import Route
from plancontrol.handlers.secrets import Scrubber
from plancontrol.recording.wiring import Handlers, Tools, journaled_tools, model_agents
from plancontrol.runs.folder import RunOptions
from plancontrol.runs.resume import StartPoint

__all__ = [
    "Say",
    "Stopped",
    "continue_run",
    "fresh",
    "locked",
    "record",
    "scrubber",
    "start_agents",
    "unattended",
]

Stopped = Halt | Problem
"""Why a run did not finish: a ``Halt`` when the workflow stopped (the error and the context
as it stood; the CLI's exit status 1), or a ``Problem`` saying what was wrong with the input,
where, and how to fix it, before anything was written (exit status 2)."""

Say = Callable[[str], None]


def fresh(
    stack: contextlib.ExitStack, folder: Path, refusal: Problem | None = None
) -> Problem | None:
    """Why ``folder`` cannot take a new run (it holds files: ``refusal``; or another process
    writes it), or None after creating it and taking its lock until ``stack`` closes."""
    from plancontrol.runs.lock import lock_new

    refusal = refusal or Problem(
        what=f"run folder {folder} already exists and is not empty",
        where=str(folder),
        fix="choose another folder (`run_dir`) or remove it",
    )
    taken = lock_new(folder, refusal)
    if isinstance(taken, Success):
        stack.enter_context(taken.unwrap())
        return None
    problem: Problem = taken.failure()
    return problem


def locked(stack: contextlib.ExitStack, folder: Path) -> Result[None, Problem]:
    """Take the lock of the run in ``folder`` until ``stack`` closes (refused while another
    process writes it); a folder that is not a run is left untouched, for the caller's
    checks to name."""
    from plancontrol.runs.folder import read_manifest
    from plancontrol.runs.lock import lock

    if isinstance(read_manifest(folder), Failure):
        return Success(None)
    return lock(folder).map(stack.enter_context).map(lambda _: None)


def scrubber(env: Mapping[str, str], keys: Sequence[str | None]) -> Scrubber:
    """Removes the shell's secret variables, the keys in use and key-shaped strings."""
    from plancontrol.handlers.secrets import secret_values

    return Scrubber((*secret_values(env), *(k for k in keys if k)))


def start_agents(
    stack: contextlib.ExitStack,
    default: Route,
    routes: Sequence[tuple[str, Route]],
    say: Say,
    folder: Path,
    tools: Tools | None = None,
    scrub: Callable[[bytes], bytes] = bytes,
) -> tuple[Agents, Route, str | None] | Problem:
    """The real agents for these routes, on the embedded model (started here, stopped with
    ``stack``) when the default route is it; also the route used and the local model's
    name. A server that cannot start is a Problem. The structured-output modes
    earlier sessions of the run in ``folder`` settled on are kept; one settled now is said
    and journaled in the session about to be recorded, as is each call of ``tools`` (its
    result scrubbed by ``scrub``)."""
    from plancontrol.recording.negotiation import JournalSettle, modes_before
    from plancontrol.recording.record import next_session
    from plancontrol.servers.embedded import LocalModelServer

    local_name = None
    if default.embedded:
        say("starting the embedded model server…")
        try:
            server = stack.enter_context(LocalModelServer())
        except RuntimeError as exc:
            return Problem(what=str(exc).splitlines()[0])
        default = replace(default, base_url=server.base_url)
        local_name = server.model_name
    number = next_session(folder)
    settle = JournalSettle(folder, number, say)
    wrap = journaled_tools(folder, number, scrub) if tools else None
    agents = model_agents(default, dict(routes), modes_before(folder, number), settle, tools, wrap)
    return stack.enter_context(agents), default, local_name


def continue_run(
    folder: Path,
    point: StartPoint,
    going: Going,
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
        scrub = scrubber(going.env, keys)
        tools = handlers.tools if handlers else None
        started = start_agents(stack, default, routes, say, folder, tools, scrub.data)
        if isinstance(started, Problem):
            return Failure(started)
        agents, _, local_name = started
        if local_name is not None:
            start = replace(start, settings=replace(start.settings, default_model=local_name))
        chosen = changed(
            handlers or unattended(),
            code_timeout=going.options.code_timeout,
            allow_install=going.options.allow_install,
            python=going.options.python,
            pass_env=going.options.pass_env,
        )
        return record(
            folder,
            point.label,
            start,
            agents,
            chosen,
            scrub,
            command,
            going.options,
            going.pipeline,
        )


def record(
    folder: Path,
    starts_after: str | None,
    start: Context,
    agents: Agents,
    handlers: Handlers,
    scrubber: Scrubber,
    command: str,
    options: RunOptions | None = None,
    pipeline: Pipeline = PLANNING_AND_CONTROL,
) -> Result[Context, Stopped]:
    """Record the next session of the run in ``folder``: ``pipeline``'s phases from the
    snapshot ``starts_after`` on (all of them when None). However it ends (Ctrl-C too),
    the run's report.html is written after it (``plancontrol.app.report``)."""
    from plancontrol.recording.record import record_session

    try:
        return record_session(
            folder,
            phases_after(pipeline, starts_after),
            start,
            agents,
            handlers,
            scrubber,
            command=command,
            starts_after=starts_after,
            options=options,
        )
    finally:
        _export_report(folder)


def _export_report(folder: Path) -> None:
    """Write report.html after a session; a page that cannot be written is said in one
    warning and never hides how the run itself ended (the page is a view: ``plancontrol
    report`` writes it again)."""
    from plancontrol.app.report.render import export_report

    try:
        problem = export_report(folder)
    except Exception as exc:  # a bug in the view must not replace the run's own outcome
        problem = Problem(what=f"{type(exc).__name__}: {exc}")
    if problem is not None:
        logging.getLogger("plancontrol").warning(
            "report.html was not written: %s; `plancontrol report %s` tries again",
            problem.message,
            folder,
        )


def unattended() -> Handlers:

    return Handlers(events=DiscardEvents(), approver=ApproveAll(), signals=Uninterrupted())
