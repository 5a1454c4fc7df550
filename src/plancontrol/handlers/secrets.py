"""Keeps secrets out of files and scripts: key patterns, secret variables and their values."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from returns.result import Failure

__all__ = [
    "KEY_PATTERN",
    "Scrubber",
    "find_secrets",
    "is_secret_name",
    "is_weak",
    "secret_values",
    "without_secrets",
]

KEY_PATTERN = re.compile(
    r"sk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}"  # OpenAI, Anthropic
    r"|AIza[0-9A-Za-z_-]{35}"  # Google
    r"|(?i:bearer)\s+[A-Za-z0-9._~+/=-]{20,}"  # an Authorization header's token
)
"""What API keys look like, for the providers plancontrol talks to."""

_SECRET_NAMES = re.compile(r"(API_KEY|APIKEY|TOKEN|SECRET|PASSWORD)$", re.IGNORECASE)
"""Variables whose values are scrubbed from what a run writes."""

_HIDDEN_NAMES = re.compile(
    r"(?:^|_)(?:API_?KEY|KEY|TOKEN|SECRET|PASSWORD|PASSWD|PASS|CREDENTIALS?)(?:_|$)",
    re.IGNORECASE,
)
"""Variables kept from the scripts: ``*_API_KEY``, ``*_TOKEN``, ``*_SECRET``, ``*_PASSWORD``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_ACCESS_KEY_ID``, ``GOOGLE_APPLICATION_CREDENTIALS``…"""

MASK = "<scrubbed>"

_PLACEHOLDERS = frozenset(
    (
        "none",
        "null",
        "nil",
        "empty",
        "test",
        "testing",
        "dummy",
        "fake",
        "placeholder",
        "changeme",
        "change-me",
        "password",
        "secret",
        "token",
        "key",
        "apikey",
        "api-key",
        "api_key",
        "your-api-key",
        "your_api_key",
        "not-needed",
        "not_needed",
        "notneeded",
        "not-used",
        "unused",
        "no-key",
        "no_key",
        "nokey",
        "sk-no-key-required",
        "sk-xxx",
        "sk-dummy",
        "sk-test",
        "sk-fake",
        "sk-local",
        "local",
        "ollama",
        "lm-studio",
        "lmstudio",
        "llama",
        "vllm",
        "anything",
        "default",
        "example",
    )
)
"""Values that local servers accept in place of a key (``OPENAI_API_KEY=EMPTY``): no secret."""


def is_weak(value: str) -> bool:
    """Whether ``value`` is too short or too common to be a key: under 8 characters, fewer
    than 5 different characters, no letter, or a placeholder such as ``EMPTY`` or
    ``sk-no-key-required``. Such a value is never scrubbed: masking it wherever its
    characters appear would change settings, numbers and prose, and it protects nothing.

    >>> [is_weak(v) for v in ("none", "EMPTY", "sk-no-key-required", "xxxxxxxxxx", "20261129")]
    [True, True, True, True, True]
    >>> is_weak("sk-abcdefgh12"), is_weak("correct horse battery staple")
    (False, False)
    """
    return (
        len(value) < 8
        or len(set(value)) < 5
        or not any(c.isalpha() for c in value)
        or value.strip().casefold() in _PLACEHOLDERS
    )


def secret_values(env: Mapping[str, str]) -> tuple[str, ...]:
    """Values of the variables whose names say they are secret (``*_API_KEY``, ``*_TOKEN``…),
    longest first, ignoring values too short or too common to be keys (``is_weak``).

    >>> secret_values({"OPENAI_API_KEY": "sk-abcdefgh12", "HOME": "/root", "GH_TOKEN": "x"})
    ('sk-abcdefgh12',)
    >>> secret_values({"OPENAI_API_KEY": "none"})
    ()
    """
    values = {v for k, v in env.items() if _SECRET_NAMES.search(k) and not is_weak(v)}
    return tuple(sorted(values, key=len, reverse=True))


def is_secret_name(name: str) -> bool:
    """Whether a variable called ``name`` may hold a credential, and so is kept from scripts.

    >>> [is_secret_name(n) for n in ("OPENAI_API_KEY", "HF_TOKEN", "AWS_ACCESS_KEY_ID")]
    [True, True, True]
    >>> [is_secret_name(n) for n in ("PATH", "SSH_AUTH_SOCK", "KEYRING", "GIT_ASKPASS")]
    [False, False, False, False]
    """
    return bool(_HIDDEN_NAMES.search(name) or _SECRET_NAMES.search(name))


def without_secrets(env: Mapping[str, str], passed: Iterable[str] = ()) -> dict[str, str]:
    """``env`` less every variable that may hold a credential (``is_secret_name``, or a value
    shaped like a key, or the value of such a variable), but those named in ``passed``.

    >>> env = {"PATH": "/bin", "OPENAI_API_KEY": "sk-abcdefgh12", "HF_TOKEN": "hf_123456789"}
    >>> without_secrets(env)
    {'PATH': '/bin'}
    >>> sorted(without_secrets(env, ["OPENAI_API_KEY"]))
    ['OPENAI_API_KEY', 'PATH']
    """
    keep = set(passed)
    secrets = {v for k, v in env.items() if is_secret_name(k) and not is_weak(v)}
    return {
        name: value
        for name, value in env.items()
        if name in keep
        or not (is_secret_name(name) or value in secrets or KEY_PATTERN.search(value))
    }


class Scrubber:
    """Replaces given secret values, and anything shaped like a key, with ``<scrubbed>``;
    values too short or too common to be keys (``is_weak``) are left where they are.

    >>> Scrubber(("hunter2-secret",)).text("key hunter2-secret and sk-" + "a" * 24)
    'key <scrubbed> and <scrubbed>'
    >>> Scrubber(("none",)).text('{"approval": "none"}')
    '{"approval": "none"}'
    """

    def __init__(self, values: Iterable[str] = ()) -> None:
        strong = {v for v in values if v and not is_weak(v)}
        self.values = tuple(sorted(strong, key=len, reverse=True))

    def text(self, text: str) -> str:
        for value in self.values:
            text = text.replace(value, MASK)
        return KEY_PATTERN.sub(MASK, text)

    def data(self, data: bytes) -> bytes:
        return self.text(_text(data)).encode("utf-8", errors="surrogateescape")

    def checked(self, reads: Callable[[bytes], object]) -> Callable[[bytes], bytes]:
        """Scrubs a document that must still read back: ``reads`` decodes it (raising a
        ValueError or returning a ``Failure`` when it cannot). A secret that is also part of
        the document's structure (a setting's value, say) is left there rather than make the
        document unreadable; every other is scrubbed.

        >>> import json
        >>> def reads(data: bytes) -> object:
        ...     if json.loads(data)["mode"] not in ("fast", "careful-x9"):
        ...         raise ValueError("unknown mode")
        ...     return None
        >>> scrub = Scrubber(("careful-x9", "hunter2-secret")).checked(reads)
        >>> scrub(b'{"mode": "careful-x9", "note": "hunter2-secret"}')
        b'{"mode": "careful-x9", "note": "<scrubbed>"}'
        """

        def scrub(data: bytes) -> bytes:
            done = self.data(data)
            if done == data or _reads(reads, done) or not _reads(reads, data):
                return done
            text = _text(data)
            for step in (*(_masking(v) for v in self.values), _key_shaped):
                trial = step(text)
                if _reads(reads, _bytes(trial)):
                    text = trial
            return _bytes(text)

        return scrub


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="surrogateescape")


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", errors="surrogateescape")


def _masking(value: str) -> Callable[[str], str]:
    return lambda text: text.replace(value, MASK)


def _key_shaped(text: str) -> str:
    return KEY_PATTERN.sub(MASK, text)


def _reads(reads: Callable[[bytes], object], data: bytes) -> bool:
    try:
        return not isinstance(reads(data), Failure)
    except (ValueError, RecursionError):  # msgspec's and json's errors are ValueErrors
        return False


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
