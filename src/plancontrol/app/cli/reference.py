"""The command-line reference page, written from the commands themselves (docs/cli.md)."""

from __future__ import annotations

import inspect
from typing import Any

__all__ = ["reference"]

_HEAD = """\
# Command-line reference

Generated from the commands themselves
(`python -m plancontrol.app.cli.reference > docs/cli.md`; a test fails when this page and
the commands disagree). Every command exits with status 0 on success, 1 when the workflow
stopped (or a replay differs from its recording, or the runs given to `diff` differ), and 2
on bad usage or input, having changed nothing.
"""


_JSON = """\
## JSON output (`--json`)

Every command takes `--json` and then prints exactly one JSON document, on one line, on
stdout, whatever happens (progress and messages for people still go to stderr; the exit
status is the same as without `--json`). Its `"type"` says what it holds:

- `run`, from `run`, `demo`, `resume` and `fork`: `status` (`completed` or `stopped`),
  `error` (null, or `{"kind", "message"}` saying why it stopped, e.g. kind
  `attempts_exhausted`), `run_dir`, and `report`: `task`, `n_steps`, `outcomes` (each
  step's `status`, `code_status`, `attempts`, `summary`, `files`, `error`), `by_role`,
  `by_phase`, `by_step` and `total` (each with `calls`, `prompt_tokens`,
  `completion_tokens`, `cost_usd`), `timings` and `seconds`.
- `replay`: `run_dir`, `part`, `identical`, `sha256`, `snapshots`, `difference` (null, or
  `{"snapshot", "at"}`), `stopped` (how the recorded run stopped, or null) and `code` (with
  `--rerun-code`: `{"rerun", "differences"}`).
- `replays`, from `replay` with several run folders: `identical` (all of them), `workers`,
  `seconds`, `counts` (`identical`, `differs`, `cannot_replay`) and `runs`, each with
  `run_dir`, `status`, `difference` or `problem` (null, or where it first differs or why it
  cannot be replayed), `sha256`, `snapshots` and `seconds`.
- `check`: `run_dir`, `ok` and `cassettes`, each `{"name", "status", "change"}` with status
  `match`, `changed` or `not_reached`.
- `secrets`, from `check --secrets`: `path` and `found`, one line per possible secret.
- `show`: `run_dir`, `task`, `status`, `forked_from`, `fork_step`, `sessions`, `plan` (each
  step's `agent`, `sub_task` and `outcome`, null before it ran) and `report`.
- `diff`: `same`, `first_changed_step` and `changed_steps` (0 is planning), `run_a`,
  `run_b`, `task_a`, `task_b`, `plan` (each `{"step", "field", "a", "b"}`) and `steps`,
  each with `changed` (of `requests`, `code`, `outputs`, `summary`, `files`), the
  `requests` and `files` that differ, and each run's `tokens`, `cost` and `seconds`.
- `config`, from `run --show-config`: `settings`, each `{"option", "value", "source"}`.
- `init`: the `path` written. `version`: the `version`.
- `error`, from any command that could not do its job: `error`, `{"kind", "message"}`, with
  kind `usage` (an unknown option, a missing argument), `input` (bad input; nothing was
  changed) or `interrupted`.

Dollar amounts (`cost_usd`) are rounded to 10 decimal places and other fractional numbers
(seconds, times) to 6, so a script never sees float noise such as `2.0549999999999998e-05`.
A price that is not known is `null`: unknown, not free.
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

    from plancontrol.app.cli.main import app

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
    lines.append(_JSON)
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    print(reference(), end="")
