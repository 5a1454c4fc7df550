"""Shared variables in instructions: ``{name}`` filled from the context, ``{{`` a literal brace."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import msgspec
from returns.result import Failure, Result, Success

from plancontrol.core.context import Value
from plancontrol.core.errors import InvalidSettings
from plancontrol.core.plan import Plan
from plancontrol.core.settings import Settings

__all__ = ["check_variables", "fill", "parse_sets", "parse_value", "placeholders", "user_texts"]

_TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_.-]*)\}")
"""A doubled brace, or a placeholder: a name in single braces. Any other brace (a JSON
example, a set literal) is text as written."""


def _text(value: Value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, tuple):
        return ", ".join(_text(v) for v in value)
    return msgspec.json.encode(value).decode()


def placeholders(text: str) -> tuple[str, ...]:
    """The variable names ``text`` asks for, in order, each once.

    >>> placeholders("Explain it to {audience} in {language}; keep {{braces}} and {audience}.")
    ('audience', 'language')
    """
    names = (m.group(1) for m in _TOKEN.finditer(text) if m.group(1))
    return tuple(dict.fromkeys(names))


def fill(text: str, variables: Mapping[str, Value]) -> str:
    """``text`` with each ``{name}`` replaced by its variable and ``{{``/``}}`` by one brace;
    a placeholder with no variable stays as written (``check_variables`` refuses those in
    what a person wrote before the run starts).

    >>> fill("Explain it to {audience}; n = {n}, literal {{x}}, JSON {\\"a\\": 1}",
    ...      {"audience": "students", "n": 3})
    'Explain it to students; n = 3, literal {x}, JSON {"a": 1}'
    """

    def one(match: re.Match[str]) -> str:
        token, name = match.group(0), match.group(1)
        if not name:
            return token[0]
        return _text(variables[name]) if name in variables else token

    return _TOKEN.sub(one, text)


def user_texts(settings: Settings, plan: Plan | None = None) -> Iterable[tuple[str, str]]:
    """What a person wrote that agents are told, each with the setting or plan path it came
    from: the instructions per role, the plan instructions, the hardware constraints and, for
    a plan given to the run, each step's bullet points."""
    yield "plan_instructions", settings.plan_instructions
    yield "hardware_constraints", settings.hardware_constraints
    for name in settings.role_names:
        yield f"the instructions of {name}", settings.instructions_for(name)
    for n, step in enumerate(plan.steps if plan else ()):
        for k, point in enumerate(step.bullet_points):
            yield f"$.sub_tasks[{n}].bullet_points[{k}]", point


def check_variables(
    variables: Mapping[str, Value], settings: Settings, plan: Plan | None = None
) -> Result[None, InvalidSettings]:
    """Refuse, before any model is asked, a placeholder no variable fills.

    >>> settings = Settings(engineer_instructions="Explain it to {audience}.")
    >>> print(check_variables({}, settings).failure().detail.split(";")[0])
    the instructions of engineer name {audience} but no variable audience is set
    >>> check_variables({"audience": "students"}, settings)
    <Success: None>
    """
    for where, text in user_texts(settings, plan):
        missing = [name for name in placeholders(text) if name not in variables]
        if missing:
            name = missing[0]
            return Failure(
                InvalidSettings(
                    detail=f"{where} name {{{name}}} but no variable {name} is set; set it "
                    f"({name}=VALUE) or write {{{{{name}}}}} for literal braces"
                )
            )
    return Success(None)


def parse_value(text: str) -> Value:
    """A ``KEY=VALUE`` value: JSON when it reads as a scalar or a list of scalars, else text.

    >>> parse_value("3"), parse_value("[1, 2]"), parse_value("students")
    (3, (1, 2), 'students')
    """
    try:
        value: Value = msgspec.json.decode(text, type=Value)
        return value
    except (msgspec.ValidationError, msgspec.DecodeError):
        return text


def parse_sets(
    sets: Iterable[str],
) -> Result[tuple[dict[str, Value], dict[str, Value]], InvalidSettings]:
    """``KEY=VALUE`` items as (settings, variables): ``settings.NAME=VALUE`` sets a setting,
    any other key a shared variable.

    >>> parse_sets(["audience=students", "settings.max_n_attempts=5"]).unwrap()
    ({'max_n_attempts': 5}, {'audience': 'students'})
    """
    settings: dict[str, Value] = {}
    variables: dict[str, Value] = {}
    for item in sets:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            return Failure(InvalidSettings(detail=f"`sets` expects KEY=VALUE, got {item!r}"))
        if key.startswith("settings."):
            settings[key.removeprefix("settings.")] = parse_value(text)
        else:
            variables[key.strip()] = parse_value(text)
    return Success((settings, variables))
