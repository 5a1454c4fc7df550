"""Dollar prices per million tokens, with their source and date; unknown models cost unknown."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["PRICES", "PRICES_DATE", "PRICES_SOURCE", "Given", "cost_usd", "load_prices", "price_of"]

PRICES_SOURCE = (
    "the providers' public pricing pages: openai.com/api/pricing, "
    "anthropic.com/pricing, ai.google.dev/gemini-api/docs/pricing (standard tier, text)"
)
PRICES_DATE = "2025-08-15"

#: model -> (dollars per million prompt tokens, dollars per million completion tokens)
PRICES: Mapping[str, tuple[float, float]] = {
    "gpt-5": (1.25, 10.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "o3": (2.00, 8.00),
    "o3-mini": (1.10, 4.40),
    "o4-mini": (1.10, 4.40),
    "claude-opus-4-1": (15.00, 75.00),
    "claude-opus-4": (15.00, 75.00),
    "claude-sonnet-4": (3.00, 15.00),
    "claude-3-7-sonnet": (3.00, 15.00),
    "claude-3-5-haiku": (0.80, 4.00),
    "gemini-2.5-pro": (1.25, 10.00),
    "gemini-2.5-flash": (0.30, 2.50),
    "gemini-2.5-flash-lite": (0.10, 0.40),
    "gemini-2.0-flash": (0.10, 0.40),
}


Given = Sequence[tuple[str, float, float]]
"""Prices the config file gives (``[prices]``): model, dollars per million prompt tokens,
dollars per million completion tokens; they win over the table."""


def price_of(model: str, given: Given = ()) -> tuple[float, float] | None:
    """The price of ``model`` or of the model it is a dated snapshot of, from ``given``
    then the table; None when unknown.

    >>> price_of("gpt-4o-mini-2024-07-18"), price_of("gpt-4o-mini"), price_of("my-llama")
    ((0.15, 0.6), (0.15, 0.6), None)
    >>> price_of("my-llama", [("my-llama", 0.0, 0.0)])
    (0.0, 0.0)
    """
    table = {**PRICES, **{name: (prompt, completion) for name, prompt, completion in given}}
    if model in table:
        return table[model]
    bases = [m for m in table if model.startswith(m + "-") and model[len(m) + 1 :][:1].isdigit()]
    return table[max(bases, key=len)] if bases else None


def cost_usd(
    model: str, prompt_tokens: int, completion_tokens: int, given: Given = ()
) -> float | None:
    """Dollars for one call, from ``given`` or the table; None (unknown, not free) for an
    unknown model.

    >>> cost_usd("gpt-4o", 1_000_000, 100_000)
    3.5
    """
    price = price_of(model, given)
    if price is None:
        return None
    return (prompt_tokens * price[0] + completion_tokens * price[1]) / 1_000_000


def load_prices(
    table: dict[str, object], where: str
) -> tuple[tuple[tuple[str, float, float], ...], str]:
    """The ``[prices]`` table of a config file (``"my-llama" = [0.2, 0.8]``: dollars per
    million prompt and completion tokens), or ((), what is wrong).

    >>> load_prices({"my-llama": [0.2, 0.8]}, "p.toml")
    ((('my-llama', 0.2, 0.8),), '')
    >>> print(load_prices({"my-llama": 0.2}, "p.toml")[1][:60])
    p.toml [prices]: "my-llama" must be [PROMPT, COMPLETION], tw
    """
    found: list[tuple[str, float, float]] = []
    for model, price in table.items():
        pair = price if isinstance(price, list) else None
        if (
            pair is None
            or len(pair) != 2
            or not all(isinstance(p, int | float) and not isinstance(p, bool) for p in pair)
            or min(pair) < 0
        ):
            return (), (
                f'{where} [prices]: "{model}" must be [PROMPT, COMPLETION], two dollar amounts '
                f"per million tokens (0 or more), got {price!r}"
            )
        found.append((model, float(pair[0]), float(pair[1])))
    return tuple(found), ""
