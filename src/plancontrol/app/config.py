"""Where settings come from: a TOML file, then the environment, then flags, each value traced."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

import msgspec
from returns.result import Failure, Result, Success

from plancontrol.app.routing import SERVER_MAX_TOKENS
from plancontrol.core.context import Value
from plancontrol.core.problem import Problem
from plancontrol.core.settings import DEFAULT_ROLES, SUPPORT_ROLES, Settings
from plancontrol.core.variables import parse_sets
from plancontrol.handlers.defaults import CODE_TIMEOUT, MODEL_TIMEOUT
from plancontrol.handlers.policy import Override, ReasoningEffort, load_overrides
from plancontrol.handlers.prices import load_prices

__all__ = [
    "CONFIG_FILE",
    "ENV_PREFIX",
    "OPTIONS",
    "Config",
    "example_config",
    "load_config",
    "task_text",
]

CONFIG_FILE = "plancontrol.toml"
"""The file ``plancontrol run`` reads from the current folder (``--config`` names another)."""

ENV_PREFIX = "PLANCONTROL_"
"""``PLANCONTROL_MODEL=gpt-4o``, ``PLANCONTROL_MAX_PLAN_STEPS=5``: one variable per option."""

OPTIONS: dict[str, Any] = {
    "model": None,
    "base_url": None,
    "structured": None,
    "timeout": MODEL_TIMEOUT,
    "max_retries": 2,
    "code_timeout": CODE_TIMEOUT,
    "allow_install": False,
    "reasoning_effort": None,
    "max_tokens": None,
    "python": None,
    "pass_env": (),
}
"""How ``run`` reaches models and runs code (the ``[run]`` table), with their defaults; every
other option is a workflow setting (``[settings]``) with ``Settings``' default."""

_SETTINGS = msgspec.structs.asdict(Settings())

_FREE_TABLES = ("roles", "params", "prices", "variables")
"""Tables whose keys the user names (roles, models, variables), besides [run] and [settings]."""
_SCALAR_SETTINGS = sorted(
    name
    for name, value in _SETTINGS.items()
    if name not in ("default_model", "role_models", "roles") and not isinstance(value, tuple)
)


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
        for name in _SCALAR_SETTINGS:
            value = self.settings.get(name, _SETTINGS[name])
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
    run: dict[str, Any] = dict(OPTIONS)
    settings: dict[str, Any] = {}
    roles: dict[str, str] = {}
    sources: dict[str, str] = {}
    params: tuple[Override, ...] = ()
    prices: tuple[tuple[str, float, float], ...] = ()
    variables: dict[str, Value] = {}
    file = path if path is not None else Path(CONFIG_FILE)
    if path is not None or file.is_file():
        match _read(file):
            case Failure(problem):
                return Failure(problem)
            case Success(data):
                pass
        for table, values in data.items():
            problem = ""
            if table == "params":
                params, problem = load_overrides(values, str(file))
            elif table == "prices":
                prices, problem = load_prices(values, str(file))
            elif table == "variables":
                problem = _variables(values, f"{file} [variables]", variables)
            if problem:
                return Failure(Problem(what=problem, where=str(file)))
            for name, value in values.items():
                where = f"{file} [{table}]"
                if table in ("params", "prices", "variables"):
                    sources[f"{table}.{name}"] = where
                elif table == "roles":
                    roles[name] = str(value)
                    sources[f"roles.{name}"] = where
                elif table == "settings" and name == "roles":  # added to the roster
                    settings["roles"] = _roster(value)
                    sources |= {f"roster.{e['name']}": f"{file} [[settings.roles]]" for e in value}
                elif table == "run":
                    run[name] = value
                    sources[name] = where
                else:
                    settings[name] = value
                    sources[name] = where
    for name in (*OPTIONS, *_SCALAR_SETTINGS):
        variable = ENV_PREFIX + name.upper()
        if variable in env:
            (run if name in OPTIONS else settings)[name] = _value(env[variable])
            sources[name] = f"${variable}"
    for name, value in flags.items():
        if value is None:
            continue
        if name == "role_models":
            for role, model in value:
                roles[role] = model
                sources[f"roles.{role}"] = "--role-model"
            continue
        if name == "sets":
            problem = _sets(value, settings, variables, sources)
            if problem:
                return Failure(Problem(what=problem, where="--set"))
            continue
        (run if name in OPTIONS else settings)[name] = value
        sources[name] = (flag_names or {}).get(name) or f"--{name.replace('_', '-')}"
    config = Config(run, settings, tuple(roles.items()), sources, params, tuple(prices), variables)
    return _checked(config)


def _variables(values: Any, where: str, into: dict[str, Value]) -> str:
    """Add the ``[variables]`` table to ``into``; what is wrong with it, if anything."""
    try:
        into.update(msgspec.convert(values, dict[str, Value]))
    except msgspec.ValidationError as exc:
        return f"{where}: a variable is a string, number, boolean or a list of them ({exc})"
    return ""


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


def _read(file: Path) -> Result[dict[str, dict[str, Any]], Problem]:
    """The tables of a config file, each known and each option in its right table."""
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        fix = "write one with `plancontrol init`"
        return Failure(Problem(what=f"{file} does not exist", where=str(file), fix=fix))
    except (OSError, UnicodeDecodeError) as exc:
        return Failure(Problem(what=f"cannot read {file}: {exc}", where=str(file)))
    except tomllib.TOMLDecodeError as exc:
        return Failure(Problem(what=f"{file} is not valid TOML: {exc}", where=str(file)))
    tables = {"run": set(OPTIONS), "settings": set(_SETTINGS) - {"default_model", "role_models"}}
    for table, values in data.items():
        if table not in (*tables, *_FREE_TABLES) or not isinstance(values, dict):
            return Failure(
                Problem(
                    what=f"{file}: unknown table [{table}]",
                    where=str(file),
                    fix="the tables are [run], [settings], [roles], [params.ROLE], [prices] and "
                    "[variables]",
                )
            )
        if table == "settings" and "roles" in values:
            problem = _roles_problem(values["roles"])
            if problem:
                return Failure(Problem(what=f"{file}: {problem}", where=str(file)))
        if table in tables:
            unknown = sorted(set(values) - tables[table])
            if unknown:
                return Failure(
                    Problem(
                        what=f"{file}: [{table}] has no option {unknown[0]!r}",
                        where=str(file),
                        fix="see `plancontrol init` for the options",
                    )
                )
    return Success(data)


def _roles_problem(entries: Any) -> str | None:
    """What is wrong with the ``[[settings.roles]]`` entries, if anything."""
    if not isinstance(entries, list):
        return 'settings.roles must be [[settings.roles]] tables, each with a name = "..."'
    for number, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            return (
                f"[[settings.roles]] number {number} has no name; "
                'give each role a name = "..." and a description = "..."'
            )
    return None


def _roster(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The default roles with ``entries`` added: an entry named like a default role replaces
    that one role, in its place; any other is added at the end.

    >>> [r["name"] for r in _roster([{"name": "critic", "description": "finds flaws"}])]
    ['engineer', 'researcher', 'idea_maker', 'idea_hater', 'critic']
    >>> _roster([{"name": "researcher", "description": "d", "kind": "code"}])[1]["kind"]
    'code'
    """
    roster = {role.name: msgspec.to_builtins(role) for role in DEFAULT_ROLES}
    for entry in entries:
        roster[entry["name"]] = entry
    return list(roster.values())


def _checked(config: Config) -> Result[Config, Problem]:
    """Options of the right kinds; settings as ``Settings`` accepts them."""
    from plancontrol.core.settings import load_settings

    kinds = {
        "timeout": (int, float),
        "max_retries": (int,),
        "code_timeout": (int, float),
        "allow_install": (bool,),
        "pass_env": (list, tuple),
        "max_tokens": (int, type(None)),
    }
    if isinstance(config.run["pass_env"], str):  # PLANCONTROL_PASS_ENV=HF_TOKEN,WANDB_API_KEY
        config.run["pass_env"] = [n for n in re.split(r"[\s,]+", config.run["pass_env"]) if n]
    for name, value in config.run.items():
        expected = kinds.get(name, (str, type(None)))
        if not isinstance(value, expected) or (bool in expected) != isinstance(value, bool):
            what = f"{_named(config, name)} must be {_kind(expected)}, got {value!r}"
            return Failure(Problem(what=what, where=name))
    if not all(isinstance(n, str) and n for n in config.run["pass_env"]):
        return Failure(
            Problem(
                what=f"{_named(config, 'pass_env')} must be a list of variable names, "
                f"got {config.run['pass_env']!r}",
                where="pass_env",
            )
        )
    cap = config.run["max_tokens"]
    if cap is not None and cap < 1:
        what = f"{_named(config, 'max_tokens')} must be a whole number above 0, got {cap}"
        return Failure(Problem(what=what, where="max_tokens"))
    effort = config.run["reasoning_effort"]
    if effort is not None and effort not in get_args(ReasoningEffort):
        return Failure(
            Problem(
                what=f"{_named(config, 'reasoning_effort')} must be one of "
                f"{', '.join(get_args(ReasoningEffort))}, got {effort!r}",
                where="reasoning_effort",
            )
        )
    structured = config.run["structured"]
    if structured not in (None, "json_schema", "json_object", "prompt"):
        return Failure(
            Problem(
                what=f"{_named(config, 'structured')} must be json_schema, json_object or "
                f"prompt, got {structured!r}",
                where="structured",
            )
        )
    match load_settings(config.settings):
        case Failure(invalid):
            return Failure(Problem(what=invalid.message, where="settings"))
    return Success(config)


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


def example_config() -> str:
    """The commented config file ``plancontrol init`` writes."""
    settings = "\n".join(_commented(name, _SETTINGS[name]) for name in _SCALAR_SETTINGS)
    return f"""\
# plancontrol's settings for runs started in this folder.
# Environment variables override this file (PLANCONTROL_MODEL=gpt-4o,
# PLANCONTROL_MAX_PLAN_STEPS=5), and flags override both; see where each value
# came from with `plancontrol run TASK --show-config`. Keys are never read
# from here: they come from OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY.

[run]
# The model for every role: "local" (the embedded model), "gpt-4o",
# "claude-sonnet-4", "gemini-2.5-pro", or a model your --base-url server serves.
# model = "local"
# base_url = "http://127.0.0.1:8080/v1"
# structured = "json_object"   # json_schema, json_object or prompt
# timeout = {MODEL_TIMEOUT:<19g}# seconds per model call
# max_retries = 2              # retries of a failed model call (429, 5xx, timeout)
# max_tokens = 2000            # most tokens per reply [{SERVER_MAX_TOKENS} for base_url and local]
# code_timeout = {CODE_TIMEOUT:<14g}# seconds per script run
# allow_install = false        # let the installer run pip
# python = "/usr/bin/python3"  # the Python that runs the scripts and pip
# pass_env = ["HF_TOKEN"]      # variables holding keys or tokens that scripts may read

[roles]
# A model for one role, overriding [run] model.
# planner = "gpt-4o"
# engineer = "o3"

[settings]
# The workflow's knobs, with their defaults.
{settings}

# A role a plan may use, added to engineer, researcher, idea_maker and idea_hater
# (one named like one of them replaces it): one [[settings.roles]] table per role.
# [[settings.roles]]
# name = "critic"
# description = "finds the weak points of the results so far"
# kind = "text"                # text (replies once) or code (writes and runs scripts)
# instructions = "Name the single weakest point first."
"""


_UNSET_EXAMPLES: dict[str, tuple[Any, str]] = {
    "approval_timeout": (300, "seconds; not set by default: wait for ever"),
    "max_cost_usd": (1.0, "dollars; not set by default: no limit"),
}
"""A value to show for each setting that is unset by default (TOML has no null)."""


def _commented(name: str, value: Any) -> str:
    """One commented-out line of the example: the option and its default, or for an option
    unset by default an example value; uncommented, each line is valid TOML.

    >>> _commented("max_cost_usd", None)
    '# max_cost_usd = 1.0               # dollars; not set by default: no limit'
    """
    if value is None:
        if name not in _UNSET_EXAMPLES:
            return f"# {name}: not set by default"
        example, note = _UNSET_EXAMPLES[name]
        return f"{_commented(name, example):<34} # {note}"
    if isinstance(value, bool):
        return f"# {name} = {str(value).lower()}"
    if isinstance(value, str):
        return f"# {name} = {msgspec.json.encode(value).decode()}"
    return f"# {name} = {value}"


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
