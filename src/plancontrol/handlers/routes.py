"""Where each model is reached and how it is asked for JSON: routes, providers, output modes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import msgspec

from plancontrol.handlers.defaults import MODEL_TIMEOUT
from plancontrol.handlers.policy import Override, ReasoningEffort

__all__ = [
    "KEY_VARIABLES",
    "MODES",
    "Provider",
    "Route",
    "StructuredMode",
    "default_mode",
    "next_mode",
    "provider_of",
]

Provider = Literal["openai", "anthropic", "gemini"]

StructuredMode = Literal["json_schema", "json_object", "prompt"]
"""How a structured reply is requested: OpenAI's native ``json_schema`` response format,
``json_object`` with the schema beside it (what llama.cpp's server accepts), or the schema
written into the system prompt (works everywhere, followed less reliably)."""

MODES: tuple[StructuredMode, ...] = ("json_schema", "json_object", "prompt")
"""The modes in the order a negotiation tries them: the most reliable first."""

KEY_VARIABLES: Mapping[Provider, tuple[str, ...]] = {
    "openai": ("OPENAI_API_KEY",),
    "anthropic": ("ANTHROPIC_API_KEY",),
    "gemini": ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
}
"""Environment variables the shell reads a provider's key from, in order of preference."""


class Route(msgspec.Struct, frozen=True, kw_only=True):
    """How to reach one model: provider, server, key, output mode, limits and pricing.

    ``free`` marks a model that costs nothing (the embedded local model); otherwise costs
    come from ``prices`` (model, dollars per million prompt and completion tokens, from the
    config file), then the price table, and are unknown for models neither lists.
    ``embedded`` marks the embedded model, whose server is started afresh (on a new port)
    for each run. ``negotiate``: on a refusal of ``structured`` (a ``--base-url`` server
    given no ``--structured``), the first structured call tries the next of ``MODES``.
    ``reasoning_effort`` and ``overrides`` (per role) feed the parameter policy
    (``plancontrol.handlers.policy``).
    """

    provider: Provider = "openai"
    base_url: str | None = None
    api_key: str | None = None
    structured: StructuredMode = "json_schema"
    timeout: float = MODEL_TIMEOUT
    max_retries: int = 2
    temperature: float | None = 0.0
    seed: int | None = None
    max_tokens: int | None = None
    free: bool = False
    embedded: bool = False
    negotiate: bool = False
    reasoning_effort: ReasoningEffort | None = None
    overrides: tuple[Override, ...] = ()
    prices: tuple[tuple[str, float, float], ...] = ()

    def __repr__(self) -> str:  # never show the key
        key = "set" if self.api_key else "none"
        return (
            f"Route(provider={self.provider!r}, base_url={self.base_url!r}, api_key={key}, "
            f"structured={self.structured!r})"
        )


def next_mode(mode: StructuredMode) -> StructuredMode | None:
    """The mode a negotiation tries after ``mode`` is refused; None after the last.

    >>> next_mode("json_schema"), next_mode("prompt")
    ('json_object', None)
    """
    index = MODES.index(mode) + 1
    return MODES[index] if index < len(MODES) else None


def provider_of(model: str) -> Provider:
    """The provider a model name belongs to, as CMBAgent routes names.

    >>> provider_of("claude-sonnet-4"), provider_of("gemini-2.5-pro"), provider_of("gpt-4o")
    ('anthropic', 'gemini', 'openai')
    """
    lowered = model.lower()
    if "claude" in lowered:
        return "anthropic"
    if "gemini" in lowered:
        return "gemini"
    return "openai"


def default_mode(provider: Provider) -> StructuredMode:
    """A sensible structured-output mode: OpenAI's own API and compatible servers take
    ``json_schema``; Anthropic and Gemini are asked through the prompt.

    >>> default_mode("openai"), default_mode("anthropic")
    ('json_schema', 'prompt')
    """
    return "json_schema" if provider == "openai" else "prompt"
