"""The command-line reference page, written from the commands themselves (docs/cli.md)."""

from __future__ import annotations

import inspect
from typing import Any

__all__ = ["reference"]

_HEAD = """\
# Command-line reference

Generated from the commands themselves (`python -m plancontrol.clidoc > docs/cli.md`; a test
fails when this page and the commands disagree). Every command exits with status 0 on
success, 1 when the workflow stopped (or a replay differs from its recording), and 2 on bad
usage or input, having changed nothing.
"""


def _default(param: Any) -> str:
    """The default worth showing: not for flags that are off, nor for nothing."""
    default = param.default
    if default is None or default is False or default == () or param.required:
        return ""
    return f"`{default}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def reference() -> str:
    """The Markdown page: each command's usage, description, arguments and options."""
    import typer

    from plancontrol.cli import app

    group: Any = typer.main.get_command(app)
    lines = [_HEAD]
    for name, command in group.commands.items():
        ctx = command.make_context(f"plancontrol {name}", [], resilient_parsing=True)
        usage = command.get_usage(ctx).removeprefix("Usage: ")
        lines += [f"## `plancontrol {name}`", "", "```text", usage, "```", ""]
        lines += [inspect.cleandoc(command.help or ""), ""]
        arguments = [p for p in command.params if p.param_type_name == "argument"]
        for p in arguments:
            lines.append(f"- `{p.name.upper()}`: {p.help}")
        if arguments:
            lines.append("")
        options = [p for p in command.params if p.param_type_name == "option"]
        if options:
            lines += ["| option | what it does | default |", "|---|---|---|"]
            for p in options:
                names, text = p.get_help_record(ctx)
                lines.append(f"| `{_cell(names)}` | {_cell(text)} | {_default(p)} |")
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    print(reference(), end="")
