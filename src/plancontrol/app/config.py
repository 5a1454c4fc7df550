"""Where settings come from: a TOML file, then the environment, then flags, each value traced."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

import msgspec
from returns.result import Failure, Result, Success

from plancontrol.app.config_example import example_config
from plancontrol.app.config_file import add_file
from plancontrol.app.config_options import (
    CONFIG_FILE,
    ENV_PREFIX,
    OPTIONS,
    SCALAR_SETTINGS,
    SETTINGS,
    Gathered,
)
from plancontrol.core.context import Value
from plancontrol.core.problem import Problem
from plancontrol.core.settings import DEFAULT_ROLES, SUPPORT_ROLES
from plancontrol.core.variables import parse_sets
from plancontrol.handlers.policy import Override, ReasoningEffort

__all__ = [
    "CONFIG_FILE",
    "ENV_PREFIX",
    "OPTIONS",
    "Config",
    "example_config",
    "load_config",
    "task_text",
]


@dataclass(frozen=True)
class Config:
    """The effective options: ``run`` ones, workflow settings, per-role models, and for each
    option given anywhere, where its value came from (the file, a variable or a flag)."""

    run: dict[str, Any]
    settings: dict[str, Any]
    role_models: tuple[tuple[str, str], ...] = ()
    sources: dict[str, str] = field(default_factory=dict)
    params: tuple[Override, ...] = ()
    """Per-role parameters overriding the policy (``[params.ROLE]`` tables)."""
    prices: tuple[tuple[str, float, float], ...] = ()
    """Prices of models the price table lacks (the ``[prices]`` table)."""
    variables: dict[str, Value] = field(default_factory=dict)
    """Shared variables agents see (the ``[variables]`` table, then ``--set KEY=VALUE``)."""

    def rows(self) -> list[tuple[str, str, str]]:
        """(option, value, source) for every option, defaults included, for ``--show-config``."""
        rows = [
            (name, _shown(value), self.sources.get(name, "default"))
            for name, value in self.run.items()
        ]
        for name in SCALAR_SETTINGS:
            value = self.settings.get(name, SETTINGS[name])
            rows.append((name, _shown(value), self.sources.get(name, "default")))
        return rows + self.roster()

    def roster(self) -> list[tuple[str, str, str]]:
        """(``roles.NAME``, its kind and model, source) for plancontrol's own roles, then
        each role a plan may use, then any model override naming no role."""
        overrides = dict(self.role_models)
        entries = self.settings.get("roles") or [msgspec.to_builtins(r) for r in DEFAULT_ROLES]
        kinds = dict.fromkeys(SUPPORT_ROLES, "support")
        kinds |= {entry["name"]: entry.get("kind", "text") for entry in entries}
        kinds |= {name: "unknown" for name in overrides if name not in kinds}
        rows = []
        for name, kind in kinds.items():
            model = overrides.get(name) or _shown(self.run["model"])
            source = self.sources.get(f"roles.{name}") or self.sources.get(f"roster.{name}")
            rows.append((f"roles.{name}", f"{kind} role, model {model}", source or "default"))
        return rows


def _shown(value: Any) -> str:
    if value is None or value == ():
        return "(none)"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value).lower() if isinstance(value, bool) else str(value)


def _value(text: str) -> Any:
    """An environment variable's value: JSON when it parses (numbers, true, null), else text."""
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError:
        return text


def load_config(
    path: Path | None,
    env: Mapping[str, str],
    flags: Mapping[str, Any],
    flag_names: Mapping[str, str] | None = None,
) -> Result[Config, Problem]:
    """The options for a run: ``path`` (a TOML file; None reads ``plancontrol.toml`` when the
    current folder has one), overridden by ``PLANCONTROL_*`` variables in ``env``, overridden
    by ``flags`` (the options given on the command line, None when not given; ``flag_names``
    names the flag of an option whose flag is not ``--option-name``).
    A file or value that is wrong is a one-line Failure naming it."""
    gathered = Gathered()
    file = path if path is not None else Path(CONFIG_FILE)
    if path is not None or file.is_file():
        problem = add_file(gathered, file)
        if problem is not None:
            return Failure(problem)
    _add_env(gathered, env)
    problem = _add_flags(gathered, flags, flag_names or {})
    if problem is not None:
        return Failure(problem)
    g = gathered
    roles = tuple(g.roles.items())
    config = Config(g.run, g.settings, roles, g.sources, g.params, tuple(g.prices), g.variables)
    return _checked(config)


def _add_env(gathered: Gathered, env: Mapping[str, str]) -> None:
    """Add the options ``PLANCONTROL_*`` variables in ``env`` set."""
    for name in (*OPTIONS, *SCALAR_SETTINGS):
        variable = ENV_PREFIX + name.upper()
        if variable in env:
            (gathered.run if name in OPTIONS else gathered.settings)[name] = _value(env[variable])
            gathered.sources[name] = f"${variable}"


def _add_flags(
    gathered: Gathered, flags: Mapping[str, Any], flag_names: Mapping[str, str]
) -> Problem | None:
    """Add the options given as flags (None: not given); what is wrong, if anything."""
    for name, value in flags.items():
        if value is None:
            continue
        if name == "role_models":
            for role, model in value:
                gathered.roles[role] = model
                gathered.sources[f"roles.{role}"] = "--role-model"
            continue
        if name == "sets":
            problem = _sets(value, gathered.settings, gathered.variables, gathered.sources)
            if problem:
                return Problem(what=problem, where="--set")
            continue
        (gathered.run if name in OPTIONS else gathered.settings)[name] = value
        gathered.sources[name] = flag_names.get(name) or f"--{name.replace('_', '-')}"
    return None


def _sets(
    sets: list[str], settings: dict[str, Any], variables: dict[str, Value], sources: dict[str, str]
) -> str:
    """Apply ``--set KEY=VALUE`` items (``settings.NAME=VALUE`` sets a setting)."""
    match parse_sets(sets):
        case Failure(invalid):
            detail: str = invalid.detail
            return detail.replace("`sets`", "--set")
        case Success((changed, shared)):
            settings.update(changed)
            variables.update(shared)
            sources.update(dict.fromkeys(changed, "--set"))
            sources.update({f"variables.{name}": "--set" for name in shared})
    return ""


def _checked(config: Config) -> Result[Config, Problem]:
    """Options of the right kinds; settings as ``Settings`` accepts them."""
    from plancontrol.core.settings import load_settings

    if isinstance(config.run["pass_env"], str):  # PLANCONTROL_PASS_ENV=HF_TOKEN,WANDB_API_KEY
        config.run["pass_env"] = [n for n in re.split(r"[\s,]+", config.run["pass_env"]) if n]
    problem = _wrong_kind(config) or _wrong_value(config)
    if problem is not None:
        return Failure(problem)
    match load_settings(config.settings):
        case Failure(invalid):
            return Failure(Problem(what=invalid.message, where="settings"))
    return Success(config)


_KINDS: dict[str, tuple[type, ...]] = {
    "timeout": (int, float),
    "max_retries": (int,),
    "code_timeout": (int, float),
    "allow_install": (bool,),
    "pass_env": (list, tuple),
    "max_tokens": (int, type(None)),
}
"""The kinds of value each ``run`` option takes; any other takes text or nothing."""


def _wrong_kind(config: Config) -> Problem | None:
    """The first ``run`` option whose value is of the wrong kind, if any."""
    for name, value in config.run.items():
        expected = _KINDS.get(name, (str, type(None)))
        if not isinstance(value, expected) or (bool in expected) != isinstance(value, bool):
            what = f"{_named(config, name)} must be {_kind(expected)}, got {value!r}"
            return Problem(what=what, where=name)
    return None


def _wrong_value(config: Config) -> Problem | None:
    """The first ``run`` option of the right kind whose value cannot be used, if any."""
    if not all(isinstance(n, str) and n for n in config.run["pass_env"]):
        return Problem(
            what=f"{_named(config, 'pass_env')} must be a list of variable names, "
            f"got {config.run['pass_env']!r}",
            where="pass_env",
        )
    cap = config.run["max_tokens"]
    if cap is not None and cap < 1:
        what = f"{_named(config, 'max_tokens')} must be a whole number above 0, got {cap}"
        return Problem(what=what, where="max_tokens")
    effort = config.run["reasoning_effort"]
    if effort is not None and effort not in get_args(ReasoningEffort):
        return Problem(
            what=f"{_named(config, 'reasoning_effort')} must be one of "
            f"{', '.join(get_args(ReasoningEffort))}, got {effort!r}",
            where="reasoning_effort",
        )
    structured = config.run["structured"]
    if structured not in (None, "json_schema", "json_object", "prompt"):
        return Problem(
            what=f"{_named(config, 'structured')} must be json_schema, json_object or "
            f"prompt, got {structured!r}",
            where="structured",
        )
    return None


def _named(config: Config, name: str) -> str:
    """``--timeout``, or ``timeout from $PLANCONTROL_TIMEOUT``: the option as the user set it."""
    source = config.sources.get(name, "default")
    return source if source.startswith("--") else f"{name} from {source}"


def _kind(kinds: tuple[type, ...]) -> str:
    if list in kinds:
        return "a list of variable names"
    if bool in kinds:
        return "true or false"
    if float in kinds:
        return "a number"
    return "a whole number" if int in kinds else "text"


def task_text(task: str | None, task_file: Path | None) -> Result[str, Problem]:
    """The task of a run: ``task`` as given, or the text of ``task_file`` (stripped); one of
    them, not both. A file that is missing, unreadable or empty is a one-line Failure.

    >>> task_text("Count primes", None)
    <Success: Count primes>
    >>> print(task_text(None, Path("/no/such/task.md")).failure().message)
    --task-file /no/such/task.md does not exist; give the file that holds the task
    """
    if task is not None and task_file is not None:
        return Failure(Problem(what="give the task as TASK or with --task-file, not both"))
    if task_file is None:
        if task is None:
            what = 'give the task: plancontrol run "TASK", or --task-file FILE'
            return Failure(Problem(what=what))
        return Success(task)
    try:
        text = task_file.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Failure(_task_file(task_file, "does not exist", "give the file that holds the task"))
    except OSError as exc:
        what = f"cannot read --task-file {task_file}: {exc.strerror}"
        return Failure(Problem(what=what, where=str(task_file)))
    except UnicodeDecodeError:
        return Failure(_task_file(task_file, "is not UTF-8 text", "save it as UTF-8"))
    if not text.strip():
        return Failure(_task_file(task_file, "is empty", "write the task in it"))
    return Success(text.strip())


def _task_file(task_file: Path, what: str, fix: str) -> Problem:
    return Problem(what=f"--task-file {task_file} {what}", where=str(task_file), fix=fix)
