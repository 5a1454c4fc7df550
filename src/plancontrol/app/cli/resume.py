"""The ``resume`` and ``fork`` commands: go on with a recorded run, as recorded unless told."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from plancontrol.app.cli.attempt import asked_at_terminal, finish
from plancontrol.app.cli.exits import fail, or_fail
from plancontrol.app.cli.options import (
    BaseUrl,
    Effort,
    FromStep,
    JsonSummary,
    MaxCostUsd,
    MaxNAttempts,
    MaxRetries,
    MaxTokens,
    Model,
    NewAllowInstall,
    NewCodeTimeout,
    PassEnv,
    Python,
    Quiet,
    RoleModel,
    Sets,
    Structured,
    Timeout,
)
from plancontrol.app.cli.workflow import (
    CONTINUED,
    EngineerInstructions,
    MaxRoundsControl,
    ResearcherInstructions,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from returns.result import Result

    from plancontrol.app.api import Stopped
    from plancontrol.core.context import Context
    from plancontrol.recording.record import Handlers

__all__ = ["fork", "resume"]


def resume(  # one parameter per option: typer makes the options from them (hence the length)
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
    max_tokens: MaxTokens = None,
    python: Python = None,
    pass_env: PassEnv = None,
    max_n_attempts: MaxNAttempts = None,
    max_cost_usd: MaxCostUsd = None,
    max_rounds_control: MaxRoundsControl = None,
    engineer_instructions: EngineerInstructions = None,
    researcher_instructions: ResearcherInstructions = None,
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


def fork(  # one parameter per option: typer makes the options from them (hence the length)
    run_dir: Annotated[Path, typer.Argument(help="The run folder to branch from.")],
    from_step: Annotated[
        int, typer.Option("--from-step", help="The first step the fork runs itself.")
    ],
    into: Annotated[Path, typer.Option(help="New folder for the fork.")],
    stop_after_step: Annotated[
        int | None,
        typer.Option(help="Stop once this step is settled, before the next (resumable; exit 1)."),
    ] = None,
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
    max_tokens: MaxTokens = None,
    python: Python = None,
    pass_env: PassEnv = None,
    max_n_attempts: MaxNAttempts = None,
    max_cost_usd: MaxCostUsd = None,
    max_rounds_control: MaxRoundsControl = None,
    engineer_instructions: EngineerInstructions = None,
    researcher_instructions: ResearcherInstructions = None,
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
            run_dir,
            into,
            from_step=from_step,
            handlers=handlers,
            say=say,
            stop_after_step=stop_after_step,
            **changes,
        ),
        quiet=quiet,
        json_summary=json_summary,
    )


def _changes(given: dict[str, Any]) -> dict[str, Any]:
    """The ``resume``/``fork`` flags as the library's keyword arguments (unset: as recorded)."""
    from typing import get_args

    from plancontrol.app.routing import parse_role_models
    from plancontrol.handlers.policy import ReasoningEffort

    structured = given["structured"]
    if structured not in (None, "json_schema", "json_object", "prompt"):
        raise fail(f"--structured must be json_schema, json_object or prompt, got {structured!r}")
    effort = given["reasoning_effort"]
    if effort is not None and effort not in get_args(ReasoningEffort):
        raise fail(
            f"--reasoning-effort must be one of {', '.join(get_args(ReasoningEffort))}, "
            f"got {effort!r}"
        )
    if given["max_tokens"] is not None and given["max_tokens"] < 1:
        raise fail(f"--max-tokens must be a whole number above 0, got {given['max_tokens']}")
    same = ("model", "base_url", "timeout", "max_retries", "reasoning_effort", "max_tokens")
    scripts = ("code_timeout", "allow_install", "python", "pass_env")
    knobs = ("max_n_attempts", "max_cost_usd", *CONTINUED)
    return {
        **{name: given[name] for name in (*same, *scripts)},
        "structured": structured,
        "role_models": or_fail(parse_role_models(given["role_model"] or [])),
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
    or_fail(asked_at_terminal(settings, "--set settings.approval=none"))
    err = Console(stderr=True, quiet=quiet, highlight=False)
    finish(folder, lambda h: attempt(h, say_on(err)), settings, quiet=quiet, err=err, **knobs)
