"""Which request parameters each model family takes, by model name: one dated table; no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import msgspec

__all__ = [
    "FAMILIES",
    "POLICY_DATE",
    "Family",
    "Override",
    "Params",
    "ReasoningEffort",
    "TokenField",
    "family_of",
    "load_overrides",
    "params_for",
    "policy_table",
]

TokenField = Literal["max_tokens", "max_completion_tokens", "max_output_tokens"]
"""The body field a reply cap is sent in."""

ReasoningEffort = Literal["none", "minimal", "low", "medium", "high", "xhigh"]
"""The values ag2's OpenAI config takes for ``reasoning_effort``."""

POLICY_DATE = "2026-11-29"
"""When the table below was last checked against its sources."""


class Family(msgspec.Struct, frozen=True, kw_only=True):
    """A model family: the names it covers and the parameters its API takes.

    ``prefixes`` match a model's name (lower-cased, after any ``provider/`` part a proxy
    adds) exactly or followed by ``-``, ``.``, ``:`` or ``@``: ``o3`` covers ``o3-mini``
    and ``o3-2025-04-16``, not ``o30``. ``temperature`` False: only the API's default is
    accepted, so none is sent. ``required_max_tokens``: a reply cap the API demands when
    none is configured."""

    name: str
    prefixes: tuple[str, ...]
    temperature: bool
    token_field: TokenField
    reasoning_effort: bool
    required_max_tokens: int | None = None
    source: str = ""


FAMILIES: tuple[Family, ...] = (
    Family(
        name="openai-reasoning",
        prefixes=("o1", "o3", "o4", "gpt-5"),
        temperature=False,
        token_field="max_completion_tokens",
        reasoning_effort=True,
        source=(
            "OpenAI's reasoning-model guide and the errors its API returns: 400 "
            "unsupported_value \"'temperature' does not support 0 with this model. Only the "
            "default (1) value is supported\", 400 unsupported_parameter \"'max_tokens' is not "
            "supported with this model. Use 'max_completion_tokens' instead\""
        ),
    ),
    Family(
        name="anthropic",
        prefixes=("claude",),
        temperature=True,
        token_field="max_tokens",
        reasoning_effort=False,
        required_max_tokens=4096,
        source=(
            "Anthropic's Messages API (POST /v1/messages): max_tokens is required, "
            "temperature 0 to 1; ag2's AnthropicConfig sends max_tokens=4096 by default"
        ),
    ),
    Family(
        name="gemini",
        prefixes=("gemini",),
        temperature=True,
        token_field="max_output_tokens",
        reasoning_effort=False,
        source="ag2's GeminiConfig: temperature and max_output_tokens (Gemini's generation config)",
    ),
)
"""The families whose parameters differ from OpenAI's chat models, checked on
``POLICY_DATE``; a name none of them covers is ``openai-chat`` (``DEFAULT``)."""

DEFAULT = Family(
    name="openai-chat",
    prefixes=(),
    temperature=True,
    token_field="max_tokens",
    reasoning_effort=False,
    source=(
        "OpenAI's Chat Completions API for gpt-4o/gpt-4.1 and the OpenAI-compatible servers "
        "(llama.cpp, vLLM, Ollama): temperature and max_tokens"
    ),
)
"""Every other name: OpenAI's chat models and OpenAI-compatible servers."""


class Override(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One role's parameters as the config file sets them (``[params.ROLE]``), overriding
    its model family's policy. ``temperature``: a number to send, ``false`` to send none,
    ``true`` to send the run's (0) even to a family that takes none."""

    role: str
    temperature: bool | float | None = None
    token_field: TokenField | None = None
    max_tokens: int | None = None
    reasoning_effort: ReasoningEffort | None = None


class Params(msgspec.Struct, frozen=True, kw_only=True):
    """The parameters one request is sent with (None: not sent)."""

    family: str
    temperature: float | None
    token_field: TokenField
    max_tokens: int | None
    reasoning_effort: ReasoningEffort | None


def _bare(model: str) -> str:
    return model.lower().rsplit("/", 1)[-1]


def family_of(model: str) -> Family:
    """The family ``model`` belongs to, by its name.

    >>> [family_of(m).name for m in ("o3-mini", "openai/gpt-5-mini", "gpt-4o", "o30")]
    ['openai-reasoning', 'openai-reasoning', 'openai-chat', 'openai-chat']
    >>> family_of("claude-sonnet-4-20250514").name, family_of("gemini-2.5-pro").name
    ('anthropic', 'gemini')
    """
    name = _bare(model)
    for family in FAMILIES:
        for prefix in family.prefixes:
            if name == prefix or (name.startswith(prefix) and name[len(prefix)] in "-.:@"):
                return family
    return DEFAULT


def params_for(
    model: str,
    role: str,
    *,
    temperature: float | None,
    max_tokens: int | None,
    reasoning_effort: ReasoningEffort | None = None,
    overrides: Sequence[Override] = (),
) -> Params:
    """What ``role`` sends to ``model``: the run's ``temperature``, ``max_tokens`` and
    ``reasoning_effort`` as the model's family takes them, then the role's override.

    >>> p = params_for("o3-mini", "judge", temperature=0.0, max_tokens=500,
    ...                reasoning_effort="low")
    >>> p.temperature, p.token_field, p.max_tokens, p.reasoning_effort
    (None, 'max_completion_tokens', 500, 'low')
    >>> p = params_for("gpt-4o", "judge", temperature=0.0, max_tokens=None,
    ...                reasoning_effort="low")
    >>> p.temperature, p.token_field, p.reasoning_effort
    (0.0, 'max_tokens', None)
    >>> params_for("o3", "planner", temperature=0.0, max_tokens=None,
    ...            overrides=[Override(role="planner", temperature=1.0)]).temperature
    1.0
    """
    family = family_of(model)
    own = next((o for o in overrides if o.role == role), Override(role=role))
    sent = temperature if family.temperature else None
    if own.temperature is False:
        sent = None
    elif own.temperature is True:
        sent = temperature
    elif own.temperature is not None:
        sent = float(own.temperature)
    effort = reasoning_effort if family.reasoning_effort else None
    return Params(
        family=family.name,
        temperature=sent,
        token_field=own.token_field or family.token_field,
        max_tokens=own.max_tokens or max_tokens or family.required_max_tokens,
        reasoning_effort=own.reasoning_effort or effort,
    )


def policy_table() -> str:
    """The table as Markdown rows, as docs/models.md shows it."""
    rows = [
        "| family | model names | temperature | reply cap field | reasoning_effort |",
        "|---|---|---|---|---|",
    ]
    for family in (*FAMILIES, DEFAULT):
        names = ", ".join(f"{p}*" for p in family.prefixes) or "any other"
        temperature = "sent (0)" if family.temperature else "not sent"
        cap: str = family.token_field
        if family.required_max_tokens:
            cap += f" (required: {family.required_max_tokens} when unset)"
        effort = "sent when set" if family.reasoning_effort else "not sent"
        rows.append(f"| {family.name} | {names} | {temperature} | {cap} | {effort} |")
    return "\n".join(rows)


def load_overrides(tables: dict[str, object], where: str) -> tuple[tuple[Override, ...], str]:
    """The ``[params.ROLE]`` tables of a config file as overrides, or ((), what is wrong).

    >>> load_overrides({"judge": {"temperature": False}}, "plancontrol.toml")[0][0].temperature
    False
    >>> print(load_overrides({"judge": {"temprature": 0}}, "p.toml")[1][:66])
    p.toml [params.judge]: Object contains unknown field `temprature`;
    """
    found: list[Override] = []
    for role, values in tables.items():
        if not isinstance(values, dict):
            return (), f"{where} [params]: {role} must be a table, [params.{role}]"
        try:
            found.append(msgspec.convert({**values, "role": role}, Override))
        except msgspec.ValidationError as exc:
            keys = ", ".join(f for f in Override.__struct_fields__ if f != "role")
            return (), f"{where} [params.{role}]: {exc}; the keys are {keys}"
    return tuple(found), ""
