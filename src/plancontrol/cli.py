"""The ``plancontrol`` command: picks real handlers, runs a pipeline, prints; exit 0, 1 or 2."""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, cast

import typer
from returns.result import Failure, Result, Success

if TYPE_CHECKING:
    from rich.console import Console

    from plancontrol.context import Context
    from plancontrol.effects import Agents, Effects, Workspace
    from plancontrol.models import StructuredMode
    from plancontrol.pipeline import Pipeline
    from plancontrol.replaying import ReplayOutcome
    from plancontrol.secrets import Scrubber

__all__ = ["app", "main"]

T = TypeVar("T")

app = typer.Typer(
    help="Plan, review, then carry out the plan step by step, carrying context between steps.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

RunDir = Annotated[Path | None, typer.Option(help="New folder for the run's files.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")]


def _fail(message: str, code: int = 2) -> typer.Exit:
    sys.stderr.write(f"plancontrol: {message}\n")
    return typer.Exit(code)


def _or_fail(result: Result[T, str]) -> T:
    """The value, or exit 2 with the one-line reason."""
    match result:
        case Success(value):
            return cast("T", value)
        case _:
            raise _fail(result.failure())


def _fresh_run_dir(run_dir: Path | None, prefix: str) -> Path:
    """A new run folder; an existing non-empty one is refused so nothing recorded is lost."""
    if run_dir is None:
        run_dir = Path("runs") / f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}"
    if run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir())):
        raise _fail(
            f"run folder {run_dir} already exists and is not empty; choose another "
            "--run-dir or remove it"
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def _execute(
    pipeline: Pipeline,
    ctx: Context,
    fx: Effects,
    err: Console,
    save: Workspace | None,
) -> tuple[int, Context]:
    """Run ``pipeline``; save plan.json and context.json through ``save``; print the tables
    to stdout and the outcome to stderr. Returns the exit status and the last context."""
    from msgspec import json
    from rich.console import Console

    from plancontrol.console import report_tables
    from plancontrol.context import encode_context
    from plancontrol.ledger import summarize
    from plancontrol.pipeline import run_pipeline

    result = run_pipeline(pipeline, ctx, fx)
    final = result.value_or(None)
    stopped = result.failure() if final is None else None
    last = final if final is not None else stopped.context  # type: ignore[union-attr]
    if save is not None:
        if last.plan is not None:
            save.write("plan.json", json.format(json.encode(last.plan)).decode() + "\n")
        save.write("context.json", encode_context(last).decode())
    out = Console()
    for table in report_tables(summarize(last)):
        out.print(table)
    if stopped is not None:
        err.print(f"[red]workflow stopped[/]: {stopped.message}")
        return 1, last
    return 0, last


def _scrubber(*keys: str | None) -> Scrubber:
    """Removes the shell's secret variables, the given keys and key-shaped strings."""
    import os

    from plancontrol.secrets import Scrubber, secret_values

    return Scrubber((*secret_values(os.environ), *(k for k in keys if k)))


def _recorded_effects(
    agents: Agents,
    folder: Path,
    stack: contextlib.ExitStack,
    *,
    quiet: bool,
    err: Console,
    timeout: float,
    allow_install: bool,
    scrubber: Scrubber,
) -> Effects:
    """Real handlers in ``folder``, each recording what it saw: model traffic to cassettes,
    script results, clock readings and decisions to the journal."""
    from plancontrol.cassettes import CassetteAgents
    from plancontrol.console import ConsoleEvents
    from plancontrol.effects import Effects
    from plancontrol.journal import Journal, RecordingApprover, RecordingClock, RecordingExecutor
    from plancontrol.local import (
        ApproveAll,
        DiscardEvents,
        FolderCheckpoints,
        FolderWorkspace,
        SubprocessExecutor,
        SystemClock,
        Uninterrupted,
    )

    journal = Journal(folder / "journal.jsonl", scrub=scrubber.data)
    stack.callback(journal.close)
    cassettes = CassetteAgents(agents, folder / "cassettes", "record", scrub=scrubber.data)
    stack.callback(cassettes.close)
    executor = SubprocessExecutor(folder, timeout=timeout, allow_install=allow_install)
    return Effects(
        agents=cassettes,
        executor=RecordingExecutor(executor, journal),
        workspace=FolderWorkspace(folder, scrub=scrubber.text),
        events=DiscardEvents() if quiet else ConsoleEvents(err),
        approver=RecordingApprover(ApproveAll(), journal),
        clock=RecordingClock(SystemClock(), journal),
        signals=Uninterrupted(),
        checkpoints=FolderCheckpoints(folder, scrub=scrubber.text),
    )


@app.command()
def run(
    task: Annotated[str, typer.Argument(help="What the agents should do.")],
    model: Annotated[
        str | None, typer.Option(help="Model for every role; 'local' for the embedded model.")
    ] = None,
    role_model: Annotated[
        list[str] | None, typer.Option(help="ROLE=MODEL override, repeatable.")
    ] = None,
    base_url: Annotated[
        str | None, typer.Option(help="An OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1.")
    ] = None,
    run_dir: RunDir = None,
    max_steps: Annotated[int | None, typer.Option(help="Most steps a plan may have.")] = None,
    reviews: Annotated[int | None, typer.Option(help="Plan review rounds.")] = None,
    attempts: Annotated[int | None, typer.Option(help="Failed runs allowed per code step.")] = None,
    structured: Annotated[
        str | None, typer.Option(help="How to ask for JSON: json_schema, json_object or prompt.")
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds per model call.")] = 120.0,
    code_timeout: Annotated[float, typer.Option(help="Seconds per script run.")] = 600.0,
    allow_install: Annotated[bool, typer.Option(help="Let the installer run pip.")] = False,
    quiet: Quiet = False,
) -> None:
    """Plan TASK, review the plan, and carry it out step by step with real models; the run
    folder records everything needed to replay it offline."""
    import os

    from msgspec.structs import replace
    from returns.result import Failure
    from rich.console import Console

    from plancontrol.ag2_agents import Ag2Agents
    from plancontrol.configure import ModelChoice, parse_role_models, plan_models, with_local_server
    from plancontrol.context import Context
    from plancontrol.localmodel import LOCAL_INSTALL_HINT, LocalModelServer, local_model_available
    from plancontrol.pipeline import PLANNING_AND_CONTROL
    from plancontrol.runfolder import write_manifest
    from plancontrol.settings import load_settings

    if structured not in (None, "json_schema", "json_object", "prompt"):
        raise _fail(f"--structured must be json_schema, json_object or prompt, got {structured!r}")
    pairs = parse_role_models(role_model or [])
    if isinstance(pairs, Failure):
        raise _fail(pairs.failure())
    choice = ModelChoice(
        model=model,
        role_models=pairs.unwrap(),
        base_url=base_url,
        structured=cast("StructuredMode | None", structured),
        timeout=timeout,
    )
    planned = plan_models(choice, os.environ, local_model_available(), LOCAL_INSTALL_HINT)
    if isinstance(planned, Failure):
        raise _fail(planned.failure())
    models = planned.unwrap()
    knobs: dict[str, Any] = {
        "default_model": models.default_model,
        "role_models": [{"role": r, "model": m} for r, m in models.role_models],
    }
    for name, value in (
        ("max_plan_steps", max_steps),
        ("n_plan_reviews", reviews),
        ("max_n_attempts", attempts),
    ):
        if value is not None:
            knobs[name] = value
    loaded = load_settings(knobs)
    if isinstance(loaded, Failure):
        raise _fail(loaded.failure().message)
    settings = loaded.unwrap()
    folder = _fresh_run_dir(run_dir, "run")
    err = Console(stderr=True, quiet=quiet, soft_wrap=True)
    if models.notice:
        err.print(models.notice)
    try:
        with contextlib.ExitStack() as stack:
            if models.local:
                err.print("starting the embedded model server…")
                server = stack.enter_context(LocalModelServer())
                models = with_local_server(models, server.base_url, server.model_name)
                settings = replace(settings, default_model=models.default_model)
            agents = stack.enter_context(Ag2Agents(models.default, dict(models.routes)))
            keys = (models.default.api_key, *(route.api_key for _, route in models.routes))
            scrubber = _scrubber(*keys)
            write_manifest(folder, task, settings, models.default, models.routes, scrubber.data)
            fx = _recorded_effects(
                agents,
                folder,
                stack,
                scrubber=scrubber,
                quiet=quiet,
                err=err,
                timeout=code_timeout,
                allow_install=allow_install,
            )
            code, _ = _execute(
                PLANNING_AND_CONTROL,
                Context(task=task, settings=settings),
                fx,
                err,
                save=fx.workspace,
            )
            Console().print(f"run folder: {folder} (replay it with: plancontrol replay {folder})")
    except KeyboardInterrupt:
        raise _fail(f"interrupted; what finished is in {folder}", code=130) from None
    except RuntimeError as exc:  # the embedded server could not start
        raise _fail(str(exc).splitlines()[0], code=1) from None
    raise typer.Exit(code)


@app.command()
def demo(run_dir: RunDir = None, quiet: Quiet = False) -> None:
    """Run the whole workflow offline: scripted agents, real code execution in RUN_DIR."""
    from rich.console import Console

    from plancontrol.context import Context
    from plancontrol.demo import DEMO_TASK, demo_agents
    from plancontrol.pipeline import PLANNING_AND_CONTROL

    folder = _fresh_run_dir(run_dir, "demo")
    err = Console(stderr=True, quiet=quiet, soft_wrap=True)
    err.print(f"[bold]plancontrol demo[/]: {DEMO_TASK}")
    err.print(f"agents are scripted; the engineer's code really runs, in {folder}")
    with contextlib.ExitStack() as stack:
        fx = _recorded_effects(
            demo_agents(),
            folder,
            stack,
            quiet=quiet,
            err=err,
            timeout=60.0,
            allow_install=False,
            scrubber=_scrubber(),
        )
        code, _ = _execute(
            PLANNING_AND_CONTROL, Context(task=DEMO_TASK), fx, err, save=fx.workspace
        )
    Console().print(f"run folder: {folder}")
    raise typer.Exit(code)


def _replay(run_dir: Path, quiet: bool, lenient: bool = False) -> ReplayOutcome:
    """Replay ``run_dir``, showing progress and the tables unless ``quiet``."""
    from rich.console import Console

    from plancontrol.console import ConsoleEvents, report_tables
    from plancontrol.ledger import summarize
    from plancontrol.replaying import replay_run

    err = Console(stderr=True, quiet=quiet, soft_wrap=True)
    outcome = _or_fail(replay_run(run_dir, None if quiet else ConsoleEvents(err), lenient))
    if not quiet:
        for table in report_tables(summarize(outcome.context)):
            Console().print(table)
        if isinstance(outcome.result, Failure):
            err.print(f"[red]workflow stopped[/]: {outcome.result.failure().message}")
    return outcome


@app.command()
def replay(
    run_dir: Annotated[Path, typer.Argument(help="A folder written by `plancontrol run`.")],
    quiet: Quiet = False,
) -> None:
    """Run a recorded run again offline (no model, no code executed) and check that it ends
    exactly as recorded: exit 0 when identical, 1 when not."""
    outcome = _replay(run_dir, quiet)
    verdict, first = outcome.verdict, outcome.first_difference
    if outcome.identical:
        print(
            f"replay identical to the recording ({len(outcome.snapshots)} snapshots and the "
            f"final context): sha256 {verdict.digest}"
        )
        raise typer.Exit(0)
    if first is not None:
        raise _fail(
            f"replay differs from the recording, first in snapshot {first[0]} at {first[1]}",
            code=1,
        )
    raise _fail(f"replay differs from the recording at {verdict.difference}", code=1)


@app.command()
def check(
    path: Annotated[Path, typer.Argument(help="A run folder (or, with --secrets, any folder).")],
    secrets: Annotated[bool, typer.Option("--secrets", help="Scan PATH for API keys.")] = False,
    value: Annotated[
        list[str] | None,
        typer.Option(help="With --secrets: a value that must not appear (repeatable)."),
    ] = None,
) -> None:
    """Check a run folder against the current code and prompts, without calling any model:
    which recorded model requests still match, and for the first that does not, the field
    that changed. With --secrets, scan a folder for keys instead. Exit 0 when all is well."""
    import os

    from plancontrol.secrets import find_secrets, secret_values

    if secrets:
        if not path.is_dir():
            raise _fail(f"{path} is not a folder")
        found = find_secrets(path, (*secret_values(os.environ), *(value or ())))
        for line in found:
            print(line)
        if found:
            raise _fail(f"{len(found)} possible secret(s) in {path}", code=1)
        print(f"no secrets found in {path}")
        raise typer.Exit(0)
    outcome = _replay(path, quiet=True, lenient=True)
    names = sorted(p.name for p in (path / "cassettes").glob("*.json"))
    drifted: dict[str, str] = {}
    for name, where in outcome.drift:  # the first change in each cassette
        drifted.setdefault(name, where)
    for name in names:
        if name in drifted:
            print(f"{name.removesuffix('.json')}: requests changed: {drifted[name]}")
        elif name in outcome.cassettes_used:
            print(f"{name.removesuffix('.json')}: requests match")
        else:
            print(f"{name.removesuffix('.json')}: not reached (the run stopped earlier)")
    raise typer.Exit(1 if drifted else 0)


@app.command()
def version() -> None:
    """Print plancontrol's version."""
    from plancontrol import __version__

    print(__version__)


def main() -> None:
    """Entry point of the console script and of ``python -m plancontrol``."""
    app()
