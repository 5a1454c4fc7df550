"""What a provider's error says: one line for the user, a refused format, what to change."""

from __future__ import annotations

import re
from typing import Any

from plancontrol.core.ports import Request
from plancontrol.handlers.routes import Route

__all__ = ["failure_detail", "provider_message", "refusal_hint", "refuses_format"]


def failure_detail(exc: BaseException, model: str = "") -> str:
    """One line for a failed call: the error's kind, its HTTP status and the provider's own
    message (from its error body), else the error's first line.

    >>> import json
    >>> try:
    ...     json.loads("<html>")
    ... except ValueError as exc:
    ...     print(failure_detail(exc))
    the server's reply was not JSON (JSONDecodeError: Expecting value: line 1 column 1 (char 0))
    """
    if isinstance(exc, ValueError) and type(exc).__name__ == "JSONDecodeError":
        return f"the server's reply was not JSON ({type(exc).__name__}: {exc})"
    status = getattr(exc, "status_code", None)
    name = type(exc).__name__
    if status:
        source = f" from {model}" if model else ""
        return f"{name} (HTTP {status}){source}: {provider_message(exc)}"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{name}: {text or 'no detail'}"


_MESSAGE_LIMIT = 400


def provider_message(exc: BaseException) -> str:
    """The message of a provider's error body (OpenAI's and llama.cpp's
    ``{"error": {"message": …}}``, Anthropic's ``{"type": "error", "error": {…}}``) on one
    line: a server traceback after it cut off, long ones clipped; else the error's text.

    >>> class Refused(Exception):
    ...     body = {"message": "1 validation error:\\n  {'loc': ('body', 'response_format')}"
    ...             "\\n\\n  File \\"app.py\\", line 376"}
    >>> provider_message(Refused("Error code: 500 - 1 validation error:"))
    "1 validation error: {'loc': ('body', 'response_format')}"
    """
    body: Any = getattr(exc, "body", None)
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        body = body["error"]
    message = body.get("message") if isinstance(body, dict) else None
    if not isinstance(message, str) or not message.strip():
        message = str(exc)
    lines = []
    for line in message.strip().splitlines():
        if line.strip().startswith(('File "', "Traceback")):
            break
        lines.append(line.strip())
    text = " ".join(part for part in lines if part)
    return text if len(text) <= _MESSAGE_LIMIT else text[: _MESSAGE_LIMIT - 1] + "…"


_FORMAT_REFUSAL = re.compile(r"response_format|json_schema|schema|grammar", re.IGNORECASE)
_PARAMETER = re.compile(r"'(temperature|max_tokens|max_completion_tokens|reasoning_effort)'")


def refuses_format(exc: BaseException) -> bool:
    """Whether ``exc`` is a server's refusal of the structured-output request: an HTTP
    4xx/5xx whose message names response_format, json_schema, a schema or a grammar."""
    status = getattr(exc, "status_code", None)
    return (
        isinstance(status, int)
        and status >= 400
        and _FORMAT_REFUSAL.search(provider_message(exc)) is not None
    )


def refusal_hint(exc: BaseException, request: Request, route: Route) -> str:
    """What to try after a refusal: another ``--structured``, or a parameter to drop."""
    if getattr(exc, "status_code", None) is None:
        return ""
    if request.schema is not None and refuses_format(exc):
        others = [m for m in ("json_schema", "json_object", "prompt") if m != route.structured]
        return f"try --structured {others[0]} or --structured {others[1]}"
    body: Any = getattr(exc, "body", None)
    named = body.get("param") if isinstance(body, dict) else None
    found = _PARAMETER.search(provider_message(exc))
    param = named if named in ("temperature", "max_tokens", "reasoning_effort") else None
    param = param or (found.group(1) if found else None)
    fix = {
        "temperature": "temperature = false",
        "max_tokens": 'token_field = "max_completion_tokens"',
        "max_completion_tokens": 'token_field = "max_tokens"',
        "reasoning_effort": "leave out --reasoning-effort, or set reasoning_effort",
    }.get(param or "")
    if fix is None:
        return ""
    return (
        f"the model refuses {param}, which the parameter policy sent: set {fix} under "
        f"[params.{request.role}] in plancontrol.toml"
    )
