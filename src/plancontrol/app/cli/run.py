"""The ``run`` and ``demo`` commands: start a recorded run (``run --show-config`` only says how)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer

from plancontrol.app.cli.attempt import asked_at_terminal, finish, run_folder
from plancontrol.app.cli.choice import (
    OneShot,
    PipelineRef,
    PlanFile,
    PlanningOnly,
    Work,
    chosen_work,
)
from plancontrol.app.cli.exits import or_fail
from plancontrol.app.cli.options import (
    Effort,
    JsonSummary,
    MaxTokens,
    Quiet,
    RoleModel,
    RunDir,
    Sets,
    Structured,
)
from plancontrol.app.cli.workflow import (
    EngineerInstructions,
    HardwareConstraints,
    MaxRoundsControl,
    MaxRoundsPlanning,
    PlanInstructions,
    ResearcherFilename,
    ResearcherInstructions,
    workflow_flags,
)
from plancontrol.handlers.defaults import CODE_TIMEOUT, MODEL_TIMEOUT

if TYPE_CHECKING:
    from collections.abc import Callable

    from returns.result import Result

    from plancontrol.app.api import Stopped
    from plancontrol.app.config import Config
    from plancontrol.core.context import Context
    from plancontrol.handlers.routes import StructuredMode
    from plancontrol.recording.record import Handlers

__all__ = ["demo", "run"]

# run's own options (resume and fork word theirs as changes to what was recorded)

Task = Annotated[
    str | None, typer.Argument(help="What the agents should do (or give --task-file).")
]
TaskFile = Annotated[
    Path | None, typer.Option(help="A text file holding the task, in place of TASK.")
]
Model = Annotated[
    str | None, typer.Option(help="Model for every role; 'local' for the embedded model.")
]
BaseUrl = Annotated[
    str | None, typer.Option(help="An OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1.")
]
MaxSteps = Annotated[
    int | None, typer.Option("--max-steps", "--max-plan-steps", help="Most steps a plan may have.")
]
Reviews = Annotated[
    int | None, typer.Option("--reviews", "--n-plan-reviews", help="Plan review rounds.")
]
Attempts = Annotated[
    int | None,
    typer.Option("--attempts", "--max-n-attempts", help="Failed runs allowed per code step."),
]
Timeout = Annotated[float | None, typer.Option(help=f"Seconds per model call [{MODEL_TIMEOUT:g}].")]
MaxRetries = Annotated[
    int | None, typer.Option(help="Retries of a failed model call: 429, 5xx, timeout [2].")
]
CodeTimeout = Annotated[
    float | None, typer.Option(help=f"Seconds per script run [{CODE_TIMEOUT:g}].")
]
AllowInstall = Annotated[
    bool | None,
    typer.Option("--allow-install/--no-allow-install", help="Let the installer run pip."),
]
Python = Annotated[
    str | None,
    typer.Option(help="The Python that runs the scripts and pip [plancontrol's own]."),
]
PassEnv = Annotated[
    list[str] | None,
    typer.Option(
        help="A variable the scripts may read although it holds a key or token (repeatable)."
    ),
]
Approval = Annotated[
    str | None,
    typer.Option(help="Ask at the terminal: none, after_planning, before_each_step or on_error."),
]
ApprovalTimeout = Annotated[
    float | None, typer.Option(help="Seconds to wait for an answer before the default.")
]
ApprovalDefault = Annotated[
    str | None,
    typer.Option(help="What a timeout decides: approve, reject, skip, retry or abort."),
]
ConfigFile = Annotated[
    Path | None,
    typer.Option(help="A TOML config file [plancontrol.toml in this folder, if there]."),
]
ShowConfig = Annotated[
    bool,
    typer.Option(
        "--show-config", help="Print each effective setting and where it came from; no run."
    ),
]

_FLAG_NAMES = {
    "max_plan_steps": "--max-steps",
    "n_plan_reviews": "--reviews",
    "max_n_attempts": "--attempts",
}
"""The flag of each setting whose flag is not its name (for messages about them)."""


def run(  # one parameter per option: typer makes the options from them (hence the length)
    task: Task = None,
    task_file: TaskFile = None,
    model: Model = None,
    role_model: RoleModel = None,
    base_url: BaseUrl = None,
    run_dir: RunDir = None,
    max_steps: MaxSteps = None,
    reviews: Reviews = None,
    attempts: Attempts = None,
    structured: Structured = None,
    reasoning_effort: Effort = None,
    max_tokens: MaxTokens = None,
    timeout: Timeout = None,
    max_retries: MaxRetries = None,
    code_timeout: CodeTimeout = None,
    allow_install: AllowInstall = None,
    python: Python = None,
    pass_env: PassEnv = None,
    approval: Approval = None,
    approval_timeout: ApprovalTimeout = None,
    approval_default: ApprovalDefault = None,
    sets: Sets = None,
    max_rounds_planning: MaxRoundsPlanning = None,
    max_rounds_control: MaxRoundsControl = None,
    plan_instructions: PlanInstructions = None,
    engineer_instructions: EngineerInstructions = None,
    researcher_instructions: ResearcherInstructions = None,
    hardware_constraints: HardwareConstraints = None,
    researcher_filename: ResearcherFilename = None,
    plan_file: PlanFile = None,
    one_shot: OneShot = None,
    planning_only: PlanningOnly = False,
    pipeline: PipelineRef = None,
    config: ConfigFile = None,
    show_config: ShowConfig = False,
    json_summary: JsonSummary = False,
    quiet: Quiet = False,
) -> None:
    """Plan TASK, review the plan, and carry it out step by step with real models; the run
    folder records everything needed to replay it offline. Settings come from the config
    file, then PLANCONTROL_* variables, then these flags."""
    import os

    from rich.console import Console

    from plancontrol.app.config import load_config, task_text
    from plancontrol.core.settings import load_settings
    from plancontrol.handlers.console import say_on

    flags = _flags(locals())
    options = or_fail(load_config(config, os.environ, flags, _FLAG_NAMES))
    if show_config:
        _print_config(options.rows(), json_summary)
        raise typer.Exit(0)
    text = or_fail(task_text(task, task_file))
    settings = load_settings(options.settings).value_or(None)
    or_fail(asked_at_terminal(settings, "--approval none"))
    folder = run_folder(run_dir, "run", str(options.run["runs_dir"]))
    err = Console(stderr=True, quiet=quiet, highlight=False)
    work = chosen_work(text, plan_file, one_shot, planning_only, pipeline)
    attempt = _attempt(text, folder, options, say_on(err), work)
    knobs = _script_knobs(options.run)
    finish(folder, attempt, settings, quiet=quiet, err=err, json_summary=json_summary, **knobs)


def _flags(given: dict[str, Any]) -> dict[str, Any]:
    """``run``'s flags as the config's options (None: not given, the file or default holds)."""
    from plancontrol.app.routing import parse_role_models

    return {
        "model": given["model"],
        "base_url": given["base_url"],
        "structured": given["structured"],
        "reasoning_effort": given["reasoning_effort"],
        "max_tokens": given["max_tokens"],
        "timeout": given["timeout"],
        "max_retries": given["max_retries"],
        "code_timeout": given["code_timeout"],
        "allow_install": given["allow_install"],
        "python": given["python"],
        "pass_env": given["pass_env"] or None,
        "role_models": or_fail(parse_role_models(given["role_model"] or [])) or None,
        "max_plan_steps": given["max_steps"],
        "n_plan_reviews": given["reviews"],
        "max_n_attempts": given["attempts"],
        "approval": given["approval"],
        "approval_timeout": given["approval_timeout"],
        "approval_default": given["approval_default"],
        "sets": given["sets"] or None,
        **workflow_flags(given),
    }


def _attempt(
    task: str, folder: Path, options: Config, say: Callable[[str], None], work: Work
) -> Callable[[Handlers], Result[Context, Stopped]]:
    """The run ``options`` describe, recorded into ``folder`` once given the CLI's handlers."""
    from plancontrol.app import api

    opts = options.run

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
            say=say,
            reasoning_effort=opts["reasoning_effort"],
            max_tokens=opts["max_tokens"],
            params=options.params,
            prices=options.prices,
            variables=options.variables,
            pipeline=work.pipeline,
            plan=work.plan,
        )

    return attempt


def _script_knobs(opts: dict[str, Any]) -> dict[str, Any]:
    """How the run's scripts run: the handlers' knobs from the effective options."""
    return {
        "code_timeout": float(opts["code_timeout"]),
        "allow_install": bool(opts["allow_install"]),
        "python": opts["python"] or "",
        "pass_env": tuple(opts["pass_env"]),
    }


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


def demo(run_dir: RunDir = None, json_summary: JsonSummary = False, quiet: Quiet = False) -> None:
    """Run the whole workflow offline and record it: a scripted model server on 127.0.0.1,
    real code execution in RUN_DIR. Replay it afterwards like any run."""
    from rich.console import Console

    from plancontrol.app import api
    from plancontrol.handlers.console import say_on

    folder = run_folder(run_dir, "demo")
    err = Console(stderr=True, quiet=quiet, highlight=False)
    finish(
        folder,
        lambda handlers: api.demo(folder, handlers=handlers, say=say_on(err)),
        None,
        quiet=quiet,
        err=err,
        json_summary=json_summary,
        code_timeout=60.0,
    )
