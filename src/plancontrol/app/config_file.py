"""Reading a config file: its TOML tables checked, then added to the options gathered."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import msgspec
from returns.result import Failure, Result, Success

from plancontrol.app.config_options import FREE_TABLES, OPTIONS, SETTINGS, Gathered
from plancontrol.core.context import Value
from plancontrol.core.problem import Problem
from plancontrol.core.settings import DEFAULT_ROLES
from plancontrol.handlers.policy import load_overrides
from plancontrol.handlers.prices import load_prices

__all__ = ["add_file", "read_file"]


def add_file(gathered: Gathered, file: Path) -> Problem | None:
    """Add the options of the config ``file`` to ``gathered``; what is wrong, if anything."""
    read = read_file(file)
    if not isinstance(read, Success):
        return read.failure()
    for table, values in read.unwrap().items():
        problem = ""
        if table == "params":
            gathered.params, problem = load_overrides(values, str(file))
        elif table == "prices":
            gathered.prices, problem = load_prices(values, str(file))
        elif table == "variables":
            problem = _variables(values, f"{file} [variables]", gathered.variables)
        if problem:
            return Problem(what=problem, where=str(file))
        for name, value in values.items():
            _add_option(gathered, file, table, name, value)
    return None


def _add_option(gathered: Gathered, file: Path, table: str, name: str, value: Any) -> None:
    """Add the option ``name`` of the file's ``table``, and note where it came from."""
    where, sources = f"{file} [{table}]", gathered.sources
    if table in ("params", "prices", "variables"):
        sources[f"{table}.{name}"] = where
    elif table == "roles":
        gathered.roles[name] = str(value)
        sources[f"roles.{name}"] = where
    elif table == "settings" and name == "roles":  # added to the roster
        gathered.settings["roles"] = _roster(value)
        sources |= {f"roster.{e['name']}": f"{file} [[settings.roles]]" for e in value}
    elif table == "run":
        gathered.run[name] = value
        sources[name] = where
    else:
        gathered.settings[name] = value
        sources[name] = where


def _variables(values: Any, where: str, into: dict[str, Value]) -> str:
    """Add the ``[variables]`` table to ``into``; what is wrong with it, if anything."""
    try:
        into.update(msgspec.convert(values, dict[str, Value]))
    except msgspec.ValidationError as exc:
        return f"{where}: a variable is a string, number, boolean or a list of them ({exc})"
    return ""


def read_file(file: Path) -> Result[dict[str, dict[str, Any]], Problem]:
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
    tables = {"run": set(OPTIONS), "settings": set(SETTINGS) - {"default_model", "role_models"}}
    for table, values in data.items():
        if table not in (*tables, *FREE_TABLES) or not isinstance(values, dict):
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
