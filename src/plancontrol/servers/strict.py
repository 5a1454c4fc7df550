"""What a strict test server refuses, as a real OpenAI or llama.cpp server does, and how."""

from __future__ import annotations

import re
from typing import Any, Literal

from plancontrol.servers.replies import Response, json_response

__all__ = ["Strictness", "strict_refusal"]

Strictness = Literal["openai", "llama.cpp"]
"""What a strict test server refuses, as the real one does: ``openai``, the parameters
OpenAI's API refuses for reasoning models (a temperature other than 1, ``max_tokens``) and
``reasoning_effort`` for the others; ``llama.cpp``, a ``json_schema`` response format, as
llama-cpp-python's server does (HTTP 500). Each refusal carries that server's error body."""

_REASONING = re.compile(r"^(o\d|gpt-5)([-.:@]|$)")
"""Model names OpenAI's API treats as reasoning models (o1, o3-mini, o4-mini, gpt-5…)."""

_LLAMA_CPP_APP = "/usr/lib/python3/site-packages/llama_cpp/server/app.py"


def _openai_refusal(status: int, message: str, param: str, code: str) -> Response:
    error = {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    return json_response(status, {"error": error})


def strict_refusal(strict: Strictness | None, body: dict[str, Any]) -> Response | None:
    """The error a real server of kind ``strict`` answers ``body`` with, or None."""
    if strict == "llama.cpp":
        return _llama_cpp_refusal(body)
    if strict == "openai":
        return _openai_strict_refusal(body)
    return None


def _llama_cpp_refusal(body: dict[str, Any]) -> Response | None:
    """llama-cpp-python's server: a 500 with a traceback for a format but text or json_object."""
    kind = (body.get("response_format") or {}).get("type")
    if kind in (None, "text", "json_object"):
        return None
    detail = {
        "type": "literal_error",
        "loc": ("body", "response_format", "type"),
        "msg": "Input should be 'text' or 'json_object'",
        "input": kind,
        "ctx": {"expected": "'text' or 'json_object'"},
    }
    message = (
        f'1 validation error:\n  {detail!r}\n\n  File "{_LLAMA_CPP_APP}", line 376, in '
        "create_chat_completion\n    POST /v1/chat/completions"
    )
    error = {"message": message, "type": "internal_server_error", "param": None, "code": None}
    return json_response(500, {"error": error})


def _openai_strict_refusal(body: dict[str, Any]) -> Response | None:
    """OpenAI's API: reasoning models refuse a temperature other than 1 and ``max_tokens``;
    the others refuse ``reasoning_effort``."""
    model = str(body.get("model", "")).lower().rsplit("/", 1)[-1]
    if _REASONING.match(model) is None:
        if "reasoning_effort" in body:
            return _openai_refusal(
                400,
                "Unrecognized request argument supplied: reasoning_effort",
                "reasoning_effort",
                "unsupported_parameter",
            )
        return None
    temperature = body.get("temperature")
    if temperature is not None and temperature != 1:
        return _openai_refusal(
            400,
            f"Unsupported value: 'temperature' does not support {temperature} with this model. "
            "Only the default (1) value is supported.",
            "temperature",
            "unsupported_value",
        )
    if "max_tokens" in body:
        return _openai_refusal(
            400,
            "Unsupported parameter: 'max_tokens' is not supported with this model. Use "
            "'max_completion_tokens' instead.",
            "max_tokens",
            "unsupported_parameter",
        )
    return None
