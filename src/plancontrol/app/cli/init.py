"""The ``init`` command: write a commented example config file, never over an existing one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from plancontrol.app.cli.exits import fail
from plancontrol.app.cli.options import JsonSummary

__all__ = ["init"]


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
        raise fail(f"{path} already exists; edit it, or give another path")
    write_atomic(path, example_config())
    if json_summary:
        emit({"type": "init", "path": str(path)})
    else:
        print(f"wrote {path}: uncomment what you want to change")
