"""Dollar prices per million tokens, with their source and date; unknown models cost unknown."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["PRICES", "PRICES_DATE", "PRICES_SOURCE", "cost_usd", "price_of"]

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


def price_of(model: str) -> tuple[float, float] | None:
    """The price of ``model`` or of the model it is a dated snapshot of; None when unknown.

    >>> price_of("gpt-4o-mini-2024-07-18"), price_of("gpt-4o-mini"), price_of("my-llama")
    ((0.15, 0.6), (0.15, 0.6), None)
    """
    if model in PRICES:
        return PRICES[model]
    bases = [m for m in PRICES if model.startswith(m + "-") and model[len(m) + 1 :][:1].isdigit()]
    return PRICES[max(bases, key=len)] if bases else None


def cost_usd(model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
    """Dollars for one call, from the table; None (unknown, not free) for an unknown model.

    >>> cost_usd("gpt-4o", 1_000_000, 100_000)
    3.5
    """
    price = price_of(model)
    if price is None:
        return None
    return (prompt_tokens * price[0] + completion_tokens * price[1]) / 1_000_000
