"""Keeps secrets out of files: key patterns and the values of secret variables, found or removed."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path

__all__ = ["KEY_PATTERN", "Scrubber", "find_secrets", "secret_values"]

KEY_PATTERN = re.compile(
    r"sk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}"  # OpenAI, Anthropic
    r"|AIza[0-9A-Za-z_-]{35}"  # Google
    r"|(?i:bearer)\s+[A-Za-z0-9._~+/=-]{20,}"  # an Authorization header's token
)
"""What API keys look like, for the providers plancontrol talks to."""

_SECRET_NAMES = re.compile(r"(API_KEY|APIKEY|TOKEN|SECRET|PASSWORD)$", re.IGNORECASE)
MASK = "<scrubbed>"


def secret_values(env: Mapping[str, str]) -> tuple[str, ...]:
    """Values of the variables whose names say they are secret (``*_API_KEY``, ``*_TOKEN``…),
    longest first, ignoring values too short to be keys.

    >>> secret_values({"OPENAI_API_KEY": "sk-abcdefgh12", "HOME": "/root", "GH_TOKEN": "x"})
    ('sk-abcdefgh12',)
    """
    values = {v for k, v in env.items() if _SECRET_NAMES.search(k) and len(v) >= 8}
    return tuple(sorted(values, key=len, reverse=True))


class Scrubber:
    """Replaces given secret values, and anything shaped like a key, with ``<scrubbed>``.

    >>> Scrubber(("hunter2-secret",)).text("key hunter2-secret and sk-" + "a" * 24)
    'key <scrubbed> and <scrubbed>'
    """

    def __init__(self, values: Iterable[str] = ()) -> None:
        self.values = tuple(v for v in values if v)

    def text(self, text: str) -> str:
        for value in self.values:
            text = text.replace(value, MASK)
        return KEY_PATTERN.sub(MASK, text)

    def data(self, data: bytes) -> bytes:
        return self.text(data.decode("utf-8", errors="surrogateescape")).encode(
            "utf-8", errors="surrogateescape"
        )


def find_secrets(folder: Path, values: Iterable[str] = ()) -> list[str]:
    """``path:line: what`` for every key-shaped string or given value in the files under
    ``folder``."""
    wanted = tuple(v for v in values if v)
    found: list[str] = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        text = path.read_bytes().decode("utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), start=1):
            if any(v in line for v in wanted):
                found.append(f"{path}:{number}: a value given to look for")
            elif KEY_PATTERN.search(line):
                found.append(f"{path}:{number}: something shaped like an API key")
    return found
