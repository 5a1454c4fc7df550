"""The ``plancontrol`` command: picks real handlers, runs a pipeline, prints; exit 0, 1 or 2."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, cast

import typer
from returns.result import Failure, Result, Success

from plancontrol.app.cli.output import json_mode

if TYPE_CHECKING:
    from collections.abc import Callable

    from rich.console import Console

    from plancontrol.app.api import Stopped
    from plancontrol.core.context import Context
    from plancontrol.core.ledger import Report
    from plancontrol.core.phase import Halt
    from plancontrol.core.ports import Signals
    from plancontrol.core.settings import Settings
    from plancontrol.handlers.routes import StructuredMode
    from plancontrol.recording.record import Handlers
    from plancontrol.recording.replay import ReplayOutcome

__all__ = ["app", "main"]

T = TypeVar("T")

app = typer.Typer(
    help="Plan, review, then carry out the plan step by step, carrying context between steps.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: typer's rich help imports a Markdown parser (~0.1 s)
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(wanted: bool) -> None:
    if wanted:
        from plancontrol import __version__

        print(__version__)
        raise typer.Exit(0)


@app.callback()
def _everywhere(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version; exit."
        ),
    ] = False,
) -> None:
    """Plan, review, then carry out the plan step by step, carrying context between steps."""


RunDir = Annotated[Path | None, typer.Option(help="New folder for the run's files.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")]
JsonSummary = Annotated[
    bool,
    typer.Option(
        "--json",
        callback=json_mode,
        is_eager=True,
        help="Print one JSON document on stdout, errors included (see below).",
    ),
]
FromStep = Annotated[
    int | None,
    typer.Option(
        "--from-step", help="Run again from step K: steps before K are taken from the recording."
    ),
]
CodeTimeout = Annotated[float, typer.Option(help="Seconds per script run.")]
AllowInstall = Annotated[bool, typer.Option(help="Let the installer run pip.")]


def _fail(message: str, code: int = 2, kind: str = "input") -> typer.Exit:
    """Say ``message`` on stderr (and, under --json, as an error document on stdout)."""
    from plancontrol.app.cli.output import emit, error_document, wants_json
    from plancontrol.app.cli.wording import as_flags

    message = as_flags(message)  # the library names its parameters; here, their flags
    sys.stderr.write(f"plancontrol: {message}\n")
    if wants_json():
        emit(error_document(kind, message))
    return typer.Exit(code)


def _or_fail(result: Result[T, str]) -> T:
    """The value, or exit 2 with the one-line reason."""
    match result:
        case Success(value):
            return cast("T", value)
        case _:
            raise _fail(result.failure())


def _run_dir(run_dir: Path | None, prefix: str) -> Path:
    """The folder given, or a new one under ``runs/`` named after the time (made here, so
    that runs started in the same second get their own; removed again if left empty)."""
    import atexit

    from plancontrol.runs.folder import reserve, unreserve

    if run_dir is not None:
        return run_dir
    folder = reserve(Path("runs"), f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}")
    atexit.register(unreserve, folder)
    return folder


def _handlers(
    watch: Signals, settings: Settings | None, *, quiet: bool, err: Console, **knobs: Any
) -> Handlers:
    """The CLI's handlers: progress on ``err`` unless ``quiet``, approvals at the terminal
    when the run's settings ask for them, Ctrl-C and SIGTERM through ``watch``."""
    from plancontrol.handlers.console import ConsoleEvents
    from plancontrol.handlers.local import ApproveAll, DiscardEvents
    from plancontrol.handlers.terminal import TerminalApprover
    from plancontrol.recording.record import Handlers

    asks = settings is not None and settings.approval != "none"
    return Handlers(
        events=DiscardEvents() if quiet else ConsoleEvents(err),
        approver=TerminalApprover.from_settings(settings) if asks and settings else ApproveAll(),
        signals=watch,
        **knobs,
    )


def _finish(
    folder: Path,
    attempt: Callable[[Handlers], Result[Context, Stopped]],
    settings: Settings | None,
    *,
    quiet: bool,
    err: Console,
    json_summary: bool = False,
    **knobs: Any,
) -> None:
    """Run ``attempt`` with the CLI's handlers, Ctrl-C and SIGTERM caught; print the tables
    (or, with ``json_summary``, one JSON document) to stdout and the outcome to stderr, and
    exit 0, 1 (the workflow stopped) or 2 (bad input, nothing written)."""
    import shlex

    from rich.console import Console

    from plancontrol.app.changes import continue_command
    from plancontrol.core.ledger import summarize
    from plancontrol.handlers.console import closing_lines, print_report, stopped_line
    from plancontrol.handlers.terminal import SignalWatch

    try:
        with SignalWatch() as watch:
            result = attempt(_handlers(watch, settings, quiet=quiet, err=err, **knobs))
    except KeyboardInterrupt:
        raise _fail(
            f"interrupted; what finished is in {folder} (continue: plancontrol resume {folder})",
            code=130,
            kind="interrupted",
        ) from None
    stopped = None
    match result:
        case Failure(str() as problem):
            raise _fail(problem)
        case Failure(halted):
            stopped = halted
            last = halted.context
        case Success(last):
            pass
    report = summarize(last)
    shown = shlex.quote(str(folder))
    if stopped is not None:  # said once, even with --quiet: it is the outcome, not progress
        loud = Console(stderr=True, highlight=False)
        loud.print(stopped_line(stopped.message))
        going_on = continue_command(stopped.error, str(folder), last.settings)
        closing_lines(loud, ("continue it with", going_on))
    if json_summary:
        _print_json(folder, report, stopped)
    else:
        out = Console(highlight=False)
        print_report(out, report)
        again = ("replay it with", f"plancontrol replay {shown}")
        closing_lines(out, ("run folder", str(folder)), again)
    raise typer.Exit(0 if stopped is None else 1)


def _print_json(folder: Path, report: Report, stopped: Halt | None) -> None:
    """One JSON document: the outcome, the run folder, and the report with its ledger."""
    from plancontrol.app.cli.output import emit, kind_of, run_document

    error = None if stopped is None else (kind_of(stopped.error), stopped.message)
    emit(run_document(str(folder), report, error))


@app.command()
def run(
    task: Annotated[
        str | None, typer.Argument(help="What the agents should do (or give --task-file).")
    ] = None,
    task_file: Annotated[
        Path | None, typer.Option(help="A text file holding the task, in place of TASK.")
    ] = None,
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
    reasoning_effort: Annotated[
        str | None,
        typer.Option(help="For reasoning models (o3, gpt-5…): minimal, low, medium or high."),
    ] = None,
    timeout: Annotated[float | None, typer.Option(help="Seconds per model call [120].")] = None,
    max_retries: Annotated[
        int | None, typer.Option(help="Retries of a failed model call: 429, 5xx, timeout [2].")
    ] = None,
    code_timeout: Annotated[
        float | None, typer.Option(help="Seconds per script run [600].")
    ] = None,
    allow_install: Annotated[
        bool | None,
        typer.Option("--allow-install/--no-allow-install", help="Let the installer run pip."),
    ] = None,
    python: Annotated[
        str | None,
        typer.Option(help="The Python that runs the scripts and pip [plancontrol's own]."),
    ] = None,
    pass_env: Annotated[
        list[str] | None,
        typer.Option(
            help="A variable the scripts may read although it holds a key or token (repeatable)."
        ),
    ] = None,
    approval: Annotated[
        str | None,
        typer.Option(
            help="Ask at the terminal: none, after_planning, before_each_step or on_error."
        ),
    ] = None,
    approval_timeout: Annotated[
        float | None, typer.Option(help="Seconds to wait for an answer before the default.")
    ] = None,
    approval_default: Annotated[
        str | None,
        typer.Option(help="What a timeout decides: approve, reject, skip, retry or abort."),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(help="A TOML config file [plancontrol.toml in this folder, if there]."),
    ] = None,
    show_config: Annotated[
        bool,
        typer.Option(
            "--show-config", help="Print each effective setting and where it came from; no run."
        ),
    ] = False,
    json_summary: JsonSummary = False,
    quiet: Quiet = False,
) -> None:
    """Plan TASK, review the plan, and carry it out step by step with real models; the run
    folder records everything needed to replay it offline. Settings come from the config
    file, then PLANCONTROL_* variables, then these flags."""
    import os

    from rich.console import Console

    from plancontrol.app import api
    from plancontrol.app.config import load_config, task_text
    from plancontrol.app.routing import parse_role_models
    from plancontrol.core.settings import load_settings
    from plancontrol.handlers.console import say_on

    flags: dict[str, Any] = {
        "model": model,
        "base_url": base_url,
        "structured": structured,
        "reasoning_effort": reasoning_effort,
        "timeout": timeout,
        "max_retries": max_retries,
        "code_timeout": code_timeout,
        "allow_install": allow_install,
        "python": python,
        "pass_env": pass_env or None,
        "role_models": _or_fail(parse_role_models(role_model or [])) or None,
        "max_plan_steps": max_steps,
        "n_plan_reviews": reviews,
        "max_n_attempts": attempts,
        "approval": approval,
        "approval_timeout": approval_timeout,
        "approval_default": approval_default,
    }
    names = {"max_plan_steps": "--max-steps", "n_plan_reviews": "--reviews"}
    options = _or_fail(
        load_config(config, os.environ, flags, names | {"max_n_attempts": "--attempts"})
    )
    if show_config:
        _print_config(options.rows(), json_summary)
        raise typer.Exit(0)
    task = _or_fail(task_text(task, task_file))
    opts = options.run
    settings = load_settings(options.settings).value_or(None)
    _or_fail(_asked_at_terminal(settings, "--approval none"))
    folder = _run_dir(run_dir, "run")
    err = Console(stderr=True, quiet=quiet, highlight=False)

    def attempt(handlers: Handlers) -> Result[Context, Stopped]:
        return api.run(
            task,
            folder,
            model=opts["model"],
            role_models=options.role_models,
            base_url=opts["base_url"],
            structured=cast("StructuredMode | None", opts["structured"]),
            timeout=float(opts["timeout"]),
            max_retries=int(opts["max_retries"]),
            settings=options.settings,
            handlers=handlers,
            say=say_on(err),
            reasoning_effort=opts["reasoning_effort"],
            params=options.params,
            prices=options.prices,
        )

    _finish(
        folder,
        attempt,
        settings,
        quiet=quiet,
        err=err,
        json_summary=json_summary,
        code_timeout=float(opts["code_timeout"]),
        allow_install=bool(opts["allow_install"]),
        python=opts["python"] or "",
        pass_env=tuple(opts["pass_env"]),
    )


def _print_config(rows: list[tuple[str, str, str]], json_summary: bool = False) -> None:
    """One line per option: its name, its value, and where the value came from."""
    from plancontrol.app.cli.output import emit

    if json_summary:
        listed = [{"option": o, "value": v, "source": f} for o, v, f in rows]
        emit({"type": "config", "settings": listed})
        return
    width = max(len(value) for _, value, _ in rows)
    for option, value, source in rows:
        print(f"{option:<24} {value:<{min(width, 40)}}  from {source}")


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the config file.")] = Path(
        "plancontrol.toml"
    ),
    json_summary: JsonSummary = False,
) -> None:
    """Write a commented example config file (every option, with its default)."""
    from plancontrol.app.cli.output import emit
    from plancontrol.app.config import example_config
    from plancontrol.handlers.files import write_atomic

    if path.exists():
        raise _fail(f"{path} already exists; edit it, or give another path")
    write_atomic(path, example_config())
    if json_summary:
        emit({"type": "init", "path": str(path)})
    else:
        print(f"wrote {path}: uncomment what you want to change")


@app.command()
def demo(run_dir: RunDir = None, json_summary: JsonSummary = False, quiet: Quiet = False) -> None:
    """Run the whole workflow offline and record it: a scripted model server on 127.0.0.1,
    real code execution in RUN_DIR. Replay it afterwards like any run."""
    from rich.console import Console

    from plancontrol.app import api
    from plancontrol.handlers.console import say_on

    folder = _run_dir(run_dir, "demo")
    err = Console(stderr=True, quiet=quiet, highlight=False)
    _finish(
        folder,
        lambda handlers: api.demo(folder, handlers=handlers, say=say_on(err)),
        None,
        quiet=quiet,
        err=err,
        json_summary=json_summary,
        code_timeout=60.0,
    )


def _replay(
    run_dir: Path,
    quiet: bool,
    lenient: bool = False,
    part: str | None = None,
    rerun_code: float | None = None,
    tables: bool = True,
) -> ReplayOutcome:
    """Replay ``run_dir`` (or one ``part`` of it), showing progress and (with ``tables``)
    the tables unless ``quiet``."""
    from rich.console import Console

    from plancontrol.core.ledger import summarize
    from plancontrol.handlers.console import ConsoleEvents, print_report, stopped_line
    from plancontrol.recording.replay import replay_part, replay_run

    err = Console(stderr=True, quiet=quiet, highlight=False)
    events = None if quiet else ConsoleEvents(err)
    if part is not None:
        outcome = _or_fail(replay_part(run_dir, part, events))
    else:
        outcome = _or_fail(replay_run(run_dir, events, lenient, rerun_code))
    if not quiet:
        if tables:
            print_report(Console(highlight=False), summarize(outcome.context))
        if isinstance(outcome.result, Failure):
            err.print(stopped_line(outcome.result.failure().message))
    return outcome


@app.command()
def replay(
    run_dir: Annotated[Path, typer.Argument(help="A folder written by `plancontrol run`.")],
    part: Annotated[
        str | None,
        typer.Option(help="Replay one phase or step alone, e.g. review, 2 or step-02."),
    ] = None,
    rerun_code: Annotated[
        bool,
        typer.Option(
            "--rerun-code",
            help="Also run every recorded script again, in a scratch folder, and compare.",
        ),
    ] = False,
    code_timeout: CodeTimeout = 600.0,
    json_summary: JsonSummary = False,
    quiet: Quiet = False,
) -> None:
    """Run a recorded run again offline (no model; scripts' recorded results are served) and
    check that it ends exactly as recorded: exit 0 when identical, 1 when not."""
    from plancontrol.app.cli.output import emit, replay_document

    if rerun_code and part is not None:
        raise _fail("--rerun-code replays the whole run; leave out --part")
    rerun = code_timeout if rerun_code else None
    outcome = _replay(run_dir, quiet, part=part, rerun_code=rerun, tables=not json_summary)
    if json_summary:
        emit(replay_document(str(run_dir), part, outcome, rerun_code))
        raise typer.Exit(0 if outcome.identical and not outcome.code_differences else 1)
    verdict, first = outcome.verdict, outcome.first_difference
    if rerun_code:
        for difference in outcome.code_differences:
            print(f"code ran differently: {difference}")
        if outcome.code_differences:
            raise _fail(
                f"{len(outcome.code_differences)} of {outcome.code_rerun} script run(s) "
                "ended differently from the recording",
                code=1,
            )
        print(f"code: {outcome.code_rerun} script run(s) executed again, each as recorded")
    if outcome.identical and part is not None:
        print(f"replay of {part} identical to the recording: sha256 {verdict.digest}")
        raise typer.Exit(0)
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
    json_summary: JsonSummary = False,
) -> None:
    """Check a run folder against the current code and prompts, without calling any model:
    which recorded model requests still match, and for the first that does not, the field
    that changed. With --secrets, scan a folder for keys instead. Exit 0 when all is well."""
    import os

    from plancontrol.app.cli.output import check_document, emit
    from plancontrol.handlers.secrets import find_secrets, secret_values

    if secrets:
        if not path.is_dir():
            raise _fail(f"{path} is not a folder")
        found = find_secrets(path, (*secret_values(os.environ), *(value or ())))
        if json_summary:
            emit({"type": "secrets", "path": str(path), "found": found})
            raise typer.Exit(1 if found else 0)
        for line in found:
            print(line)
        if found:
            raise _fail(f"{len(found)} possible secret(s) in {path}", code=1)
        print(f"no secrets found in {path}")
        raise typer.Exit(0)
    outcome = _replay(path, quiet=True, lenient=True)
    drifted: dict[str, str] = {}
    for name, where in outcome.drift:  # the first change in each cassette
        drifted.setdefault(name, where)
    if json_summary:
        emit(check_document(str(path), outcome, drifted))
        raise typer.Exit(1 if drifted else 0)
    for name in outcome.cassettes_recorded:
        shown = name.replace(".json", "", 1)
        if name in drifted:
            print(f"{shown}: requests changed: {drifted[name]}")
        elif name in outcome.cassettes_used:
            print(f"{shown}: requests match")
        else:
            print(f"{shown}: not reached (the run stopped earlier)")
    raise typer.Exit(1 if drifted else 0)


def _asked_at_terminal(settings: Settings | None, fix: str) -> Result[None, str]:
    """Refused before anything is paid for: approvals asked at a terminal that is not one."""
    from plancontrol.handlers.terminal import no_terminal

    problem = no_terminal(settings, fix)
    return Failure(problem) if problem else Success(None)


Model = Annotated[
    str | None,
    typer.Option(help="Go on with this model for every role; 'local' for the embedded model."),
]
RoleModel = Annotated[list[str] | None, typer.Option(help="ROLE=MODEL override, repeatable.")]
BaseUrl = Annotated[
    str | None,
    typer.Option(help="Go on with this OpenAI-compatible server ('' drops the recorded one)."),
]
Structured = Annotated[
    str | None, typer.Option(help="How to ask for JSON: json_schema, json_object or prompt.")
]
Timeout = Annotated[float | None, typer.Option(help="Seconds per model call.")]
MaxRetries = Annotated[int | None, typer.Option(help="Retries of a failed model call.")]
NewCodeTimeout = Annotated[
    float | None, typer.Option("--code-timeout", help="Seconds per script run.")
]
NewAllowInstall = Annotated[
    bool | None,
    typer.Option("--allow-install/--no-allow-install", help="Let the installer run pip."),
]
MaxNAttempts = Annotated[
    int | None, typer.Option(help="Failed runs allowed per code step (settings.max_n_attempts).")
]
Effort = Annotated[
    str | None,
    typer.Option(help="For reasoning models (o3, gpt-5…): minimal, low, medium or high."),
]
Python = Annotated[str | None, typer.Option(help="Go on with this Python for the scripts and pip.")]
PassEnv = Annotated[
    list[str] | None,
    typer.Option(help="Let the scripts read this credential-named variable (repeatable)."),
]
MaxCostUsd = Annotated[
    float | None, typer.Option(help="Stop when the run has spent this many dollars.")
]
Sets = Annotated[
    list[str] | None,
    typer.Option(
        "--set", help="KEY=VALUE: a shared variable, or settings.NAME=VALUE (repeatable)."
    ),
]


def _changes(given: dict[str, Any]) -> dict[str, Any]:
    """The ``resume``/``fork`` flags as the library's keyword arguments (unset: as recorded)."""
    from typing import get_args

    from plancontrol.app.routing import parse_role_models
    from plancontrol.handlers.policy import ReasoningEffort

    structured = given["structured"]
    if structured not in (None, "json_schema", "json_object", "prompt"):
        raise _fail(f"--structured must be json_schema, json_object or prompt, got {structured!r}")
    effort = given["reasoning_effort"]
    if effort is not None and effort not in get_args(ReasoningEffort):
        raise _fail(
            f"--reasoning-effort must be one of {', '.join(get_args(ReasoningEffort))}, "
            f"got {effort!r}"
        )
    same = ("model", "base_url", "timeout", "max_retries", "reasoning_effort")
    scripts = ("code_timeout", "allow_install", "python", "pass_env")
    knobs = ("max_n_attempts", "max_cost_usd")
    return {
        **{name: given[name] for name in (*same, *scripts)},
        "structured": structured,
        "role_models": _or_fail(parse_role_models(given["role_model"] or [])),
        "settings": {name: given[name] for name in knobs if given[name] is not None},
        "sets": tuple(given["set_"] or ()),
        "instructions": given["instructions"],
    }


def _go_on(
    folder: Path,
    run_dir: Path,
    from_step: int | None,
    changes: dict[str, Any],
    attempt: Callable[[Handlers, Callable[[str], None]], Result[Context, Stopped]],
    *,
    quiet: bool,
    **knobs: Any,
) -> None:
    """Resume or fork: record a session into ``folder`` with the settings the run in
    ``run_dir`` goes on with, as ``changes`` change them (they decide whether to ask at the
    terminal; a terminal that is not one is refused before anything is paid for)."""
    from rich.console import Console

    from plancontrol.handlers.console import say_on
    from plancontrol.runs.resume import edit_context, start_point

    settings = (
        start_point(run_dir, from_step)
        .bind(lambda p: edit_context(p.context, 0, changes["sets"], None, changes["settings"]))
        .map(lambda ctx: ctx.settings)
        .value_or(None)
    )
    _or_fail(_asked_at_terminal(settings, "--set settings.approval=none"))
    err = Console(stderr=True, quiet=quiet, highlight=False)
    _finish(folder, lambda h: attempt(h, say_on(err)), settings, quiet=quiet, err=err, **knobs)


@app.command()
def resume(
    run_dir: Annotated[Path, typer.Argument(help="A run folder that stopped or failed.")],
    from_step: FromStep = None,
    model: Model = None,
    role_model: RoleModel = None,
    base_url: BaseUrl = None,
    structured: Structured = None,
    timeout: Timeout = None,
    max_retries: MaxRetries = None,
    code_timeout: NewCodeTimeout = None,
    allow_install: NewAllowInstall = None,
    reasoning_effort: Effort = None,
    python: Python = None,
    pass_env: PassEnv = None,
    max_n_attempts: MaxNAttempts = None,
    max_cost_usd: MaxCostUsd = None,
    set_: Sets = None,
    instructions: Annotated[
        str | None, typer.Option(help="Added to the instructions of the step it goes on with.")
    ] = None,
    json_summary: JsonSummary = False,
    quiet: Quiet = False,
) -> None:
    """Continue a stopped, failed or interrupted run from its last snapshot, in the same
    folder; with --from-step K, run step K and the rest again. It goes on with the models,
    timeouts and settings last recorded, except those given here. Nothing recorded is
    changed: the new part, and what it changed, is recorded as a new session."""
    from plancontrol.app import api

    changes = _changes(locals())  # first: the command's parameters only
    _go_on(
        run_dir,
        run_dir,
        from_step,
        changes,
        lambda handlers, say: api.resume(
            run_dir, from_step=from_step, handlers=handlers, say=say, **changes
        ),
        quiet=quiet,
        json_summary=json_summary,
    )


@app.command()
def fork(
    run_dir: Annotated[Path, typer.Argument(help="The run folder to branch from.")],
    from_step: Annotated[
        int, typer.Option("--from-step", help="The first step the fork runs itself.")
    ],
    into: Annotated[Path, typer.Option(help="New folder for the fork.")],
    set_: Sets = None,
    instructions: Annotated[
        str | None, typer.Option(help="Added to the instructions of step K.")
    ] = None,
    model: Model = None,
    role_model: RoleModel = None,
    base_url: BaseUrl = None,
    structured: Structured = None,
    timeout: Timeout = None,
    max_retries: MaxRetries = None,
    code_timeout: NewCodeTimeout = None,
    allow_install: NewAllowInstall = None,
    reasoning_effort: Effort = None,
    python: Python = None,
    pass_env: PassEnv = None,
    max_n_attempts: MaxNAttempts = None,
    max_cost_usd: MaxCostUsd = None,
    json_summary: JsonSummary = False,
    quiet: Quiet = False,
) -> None:
    """Branch a run at step K into a new folder: the steps before K are the original's
    (replayed from its recording), step K on runs live on the edited context, with the
    models, timeouts and settings of the original except those given here. The original
    is not changed, and the fork replays like any run."""
    from plancontrol.app import api

    changes = _changes(locals())  # first: the command's parameters only
    _go_on(
        into,
        run_dir,
        from_step,
        changes,
        lambda handlers, say: api.fork(
            run_dir, into, from_step=from_step, handlers=handlers, say=say, **changes
        ),
        quiet=quiet,
        json_summary=json_summary,
    )


@app.command()
def show(
    run_dir: Annotated[Path, typer.Argument(help="A run folder, finished or not.")],
    step: Annotated[
        int | None,
        typer.Option(help="Each attempt at step K: code, exit code, output, the judge's verdict."),
    ] = None,
    json_summary: JsonSummary = False,
) -> None:
    """Show a run: its status, the plan with each step's status, attempts and summary, and
    the cost and timing tables; with --step K, each attempt at step K. Reads the folder only."""
    from rich.console import Console

    from plancontrol.app.cli.output import emit, show_document
    from plancontrol.core.ledger import summarize
    from plancontrol.handlers.console import labelled, print_report, progress_table
    from plancontrol.runs.folder import shown_statuses
    from plancontrol.runs.resume import run_state

    if step is not None:
        _show_step(run_dir, step, json_summary)
    state = _or_fail(run_state(run_dir))
    if json_summary:
        emit(show_document(str(run_dir), state, summarize(state.context)))
        raise typer.Exit(0)
    out = Console(highlight=False)
    out.print(labelled("task", state.manifest.task))
    out.print(labelled("status", state.status))
    if state.manifest.forked_from:
        origin = f"{state.manifest.forked_from} at step {state.manifest.fork_step}"
        out.print(labelled("forked from", origin), soft_wrap=True)  # a path, never broken
    shown = zip(state.sessions, shown_statuses(state.sessions), strict=True)
    sessions = ", ".join(f"{s.number} {s.command} ({status})" for s, status in shown)
    out.print(labelled("sessions", sessions))
    if state.context.plan is not None:
        out.print(progress_table(state.context))
    print_report(out, summarize(state.context))
    raise typer.Exit(0)


def _show_step(run_dir: Path, step: int, json_summary: bool) -> None:
    """Print each attempt at ``step`` (as one JSON document with ``json_summary``); exit."""
    import msgspec

    from plancontrol.app.cli.output import emit
    from plancontrol.recording.attempts import attempts_text, step_record

    record = _or_fail(step_record(run_dir, step))
    if json_summary:
        emit({"type": "step", "run_dir": str(run_dir), **msgspec.to_builtins(record)})
    else:
        print(attempts_text(record))
    raise typer.Exit(0)


@app.command()
def version(json_summary: JsonSummary = False) -> None:
    """Print plancontrol's version."""
    from plancontrol import __version__
    from plancontrol.app.cli.output import emit

    if json_summary:
        emit({"type": "version", "version": __version__})
    else:
        print(__version__)


def main() -> None:
    """Entry point of the console script and of ``python -m plancontrol``."""
    from plancontrol.app.cli.output import JSON_FLAG, run_with_json_errors

    if JSON_FLAG in sys.argv[1:]:  # usage errors too become a JSON document on stdout
        sys.exit(run_with_json_errors(typer.main.get_command(app).main, sys.argv[1:]))
    app()
