"""The ``check`` command: do a run's recorded requests still match the code (or: any keys)?"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from plancontrol.app.cli.exits import fail
from plancontrol.app.cli.options import JsonSummary
from plancontrol.app.cli.replay import replayed

if TYPE_CHECKING:
    from plancontrol.recording.replay import ReplayOutcome

__all__ = ["check"]


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
    from plancontrol.app.cli.output import check_document, emit

    if secrets:
        _scan_for_secrets(path, value or [], json_summary)
    outcome = replayed(path, quiet=True, lenient=True)
    drifted: dict[str, str] = {}
    for name, where in outcome.drift:  # the first change in each cassette
        drifted.setdefault(name, where)
    if json_summary:
        emit(check_document(str(path), outcome, drifted))
    else:
        _print_cassettes(outcome, drifted)
    raise typer.Exit(1 if drifted else 0)


def _scan_for_secrets(path: Path, values: list[str], json_summary: bool) -> None:
    """Each possible secret in ``path`` (a known key, or one of ``values``); exit 1 if any."""
    import os

    from plancontrol.app.cli.output import emit
    from plancontrol.handlers.secrets import find_secrets, secret_values

    if not path.is_dir():
        raise fail(f"{path} is not a folder")
    found = find_secrets(path, (*secret_values(os.environ), *values))
    if json_summary:
        emit({"type": "secrets", "path": str(path), "found": found})
        raise typer.Exit(1 if found else 0)
    for line in found:
        print(line)
    if found:
        raise fail(f"{len(found)} possible secret(s) in {path}", code=1)
    print(f"no secrets found in {path}")
    raise typer.Exit(0)


def _print_cassettes(outcome: ReplayOutcome, drifted: dict[str, str]) -> None:
    """One line per recorded cassette: its requests match, changed (where), or were not reached."""
    for name in outcome.cassettes_recorded:
        shown = name.replace(".json", "", 1)
        if name in drifted:
            print(f"{shown}: requests changed: {drifted[name]}")
        elif name in outcome.cassettes_used:
            print(f"{shown}: requests match")
        else:
            print(f"{shown}: not reached (the run stopped earlier)")
