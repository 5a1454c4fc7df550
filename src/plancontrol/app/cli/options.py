"""Options more than one command takes, declared once; imports nothing heavy (--help stays fast)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from plancontrol.app.cli.output import json_mode

__all__ = [
    "BaseUrl",
    "CodeTimeout",
    "Effort",
    "FromStep",
    "JsonSummary",
    "MaxCostUsd",
    "MaxNAttempts",
    "MaxRetries",
    "MaxTokens",
    "Model",
    "NewAllowInstall",
    "NewCodeTimeout",
    "PassEnv",
    "Python",
    "Quiet",
    "RoleModel",
    "RunDir",
    "Sets",
    "Structured",
    "Timeout",
]

# Every command

JsonSummary = Annotated[
    bool,
    typer.Option(
        "--json",
        callback=json_mode,
        is_eager=True,
        help="Print one JSON document on stdout, errors included (see below).",
    ),
]
Quiet = Annotated[
    bool,
    typer.Option(
        "--quiet",
        "-q",
        help="Print only errors and, at the end, the run folder (replay: its verdict).",
    ),
]

# run and demo, replay

RunDir = Annotated[Path | None, typer.Option(help="New folder for the run's files.")]
CodeTimeout = Annotated[float, typer.Option(help="Seconds per script run.")]

# resume and fork: what the run goes on with (unset: as recorded)

FromStep = Annotated[
    int | None,
    typer.Option(
        "--from-step", help="Run again from step K: steps before K are taken from the recording."
    ),
]
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
MaxTokens = Annotated[
    int | None,
    typer.Option(help="Most tokens per reply [a cap for --base-url and local; hosted: none]."),
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
