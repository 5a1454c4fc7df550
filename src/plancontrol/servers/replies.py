"""What a scripted test server answers: the kinds of reply, and the HTTP response each makes."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import msgspec

__all__ = [
    "CREATED",
    "Answer",
    "Drop",
    "Empty",
    "Malformed",
    "Response",
    "ServerReply",
    "Slow",
    "Status",
    "ToolCall",
    "ToolCalls",
    "Usage",
    "error_response",
    "json_response",
    "messages_of",
    "render",
    "text_of",
]

CREATED = 1700000000
"""The ``created`` time of every completion, so that responses are deterministic."""


class ToolCall(msgspec.Struct, frozen=True):
    """One function call the model asks for: ``ToolCall("search", {"query": "cats"})``."""

    name: str
    arguments: dict[str, Any] = {}


class ToolCalls(msgspec.Struct, frozen=True):
    """A reply calling tools: ``message.tool_calls`` (ids call_1, call_2, …), content null."""

    calls: tuple[ToolCall, ...]


class Empty(msgspec.Struct, frozen=True):
    """A 200 completion whose message content is the empty string."""


class Usage(msgspec.Struct, frozen=True):
    """Any reply, with usage figures fixed instead of counted as words (None keeps the count)."""

    reply: ServerReply
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


class Status(msgspec.Struct, frozen=True):
    """An HTTP error with an OpenAI-style error body and, if set, a ``retry-after`` header."""

    code: int = 500
    retry_after: float | None = None
    message: str = "test server: injected fault"


class Slow(msgspec.Struct, frozen=True):
    """Waits ``seconds`` (say, past a client's timeout), then answers ``then``."""

    seconds: float
    then: Answer = ""


class Drop(msgspec.Struct, frozen=True):
    """Closes the connection without sending any response."""


class Malformed(msgspec.Struct, frozen=True):
    """An HTTP 200 whose body is not JSON."""


Answer = str | ToolCalls | Empty | Usage | msgspec.Struct | Mapping[str, Any]
"""A reply a client can read: text, tool calls, "", or a Struct or dict sent as JSON text."""
ServerReply = Answer | Status | Slow | Drop | Malformed
"""What one scripted slot answers: an Answer or a fault."""


class Response(msgspec.Struct, frozen=True, kw_only=True):
    """What the handler sends (nothing when ``status`` is 0), and what the log records."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0
    text: str | None = None
    prompt: int = 0
    completion: int = 0


def render(reply: ServerReply, body: dict[str, Any], index: int, ids: Iterator[int]) -> Response:
    """The response one scripted reply makes to one request."""
    reply, fixed = _unwrapped(reply)
    stream = body.get("stream") is True
    if isinstance(reply, Slow):
        later = render(Usage(reply.then, *fixed), body, index, ids)
        return msgspec.structs.replace(later, delay=reply.seconds)
    if isinstance(reply, Status):
        retry = () if reply.retry_after is None else (("retry-after", f"{reply.retry_after:g}"),)
        return error_response(reply.code, reply.message, retry)
    if isinstance(reply, Drop):
        return Response(status=0)
    if isinstance(reply, Malformed):
        kind = "text/event-stream" if stream else "application/json"
        return Response(status=200, body=b"data: {not json\n\n", content_type=kind)
    message: dict[str, Any] = {"role": "assistant", "content": None}
    if isinstance(reply, ToolCalls):
        message["tool_calls"] = calls = [_tool_call(next(ids), call) for call in reply.calls]
        finish, text = "tool_calls", msgspec.json.encode(calls).decode()
        counted = sum(_words(call["function"]["arguments"]) for call in calls)
    else:
        finish, text = "stop", _astext_of(reply)
        message["content"], counted = text, _words(text)
    asked = sum(_words(text_of(m.get("content"))) for m in messages_of(body))
    prompt = asked if fixed[0] is None else fixed[0]
    completion = counted if fixed[1] is None else fixed[1]
    usage = {"prompt_tokens": prompt, "completion_tokens": completion}
    usage["total_tokens"] = prompt + completion
    head = {"id": f"chatcmpl-test-{index}", "created": CREATED, "model": body.get("model", "")}
    if stream:
        chunks = _stream(head, message, finish, usage, body)
        response = Response(status=200, body=chunks, content_type="text/event-stream")
    else:
        choice = {"index": 0, "message": message, "finish_reason": finish}
        response = json_response(
            200, {**head, "object": "chat.completion", "choices": [choice], "usage": usage}
        )
    return msgspec.structs.replace(response, text=text, prompt=prompt, completion=completion)


def _unwrapped(reply: ServerReply) -> tuple[ServerReply, tuple[int | None, int | None]]:
    """The reply inside any ``Usage``, and the figures they fix (None: counted)."""
    fixed: tuple[int | None, int | None] = (None, None)
    while isinstance(reply, Usage):  # an outer figure wins over an inner one
        fixed = (
            reply.prompt_tokens if fixed[0] is None else fixed[0],
            reply.completion_tokens if fixed[1] is None else fixed[1],
        )
        reply = reply.reply
    return reply, fixed


def _stream(
    head: dict[str, Any], message: dict[str, Any], finish: str, usage: object, body: dict[str, Any]
) -> bytes:
    """The completion as server-sent chunks: content in two deltas, finish, usage, [DONE]."""
    head = {**head, "object": "chat.completion.chunk"}
    text = message["content"]
    if text is None:
        calls = [{"index": i, **call} for i, call in enumerate(message["tool_calls"])]
        deltas: list[dict[str, Any]] = [{"role": "assistant", "content": None, "tool_calls": calls}]
    else:
        deltas = [{"role": "assistant", "content": text[: len(text) // 2]}]
        deltas.append({"content": text[len(text) // 2 :]})
    choices: list[dict[str, Any]] = [
        {"index": 0, "delta": delta, "finish_reason": None} for delta in deltas
    ]
    choices.append({"index": 0, "delta": {}, "finish_reason": finish})
    chunks: list[object] = [{**head, "choices": [choice]} for choice in choices]
    if (body.get("stream_options") or {}).get("include_usage"):
        chunks.append({**head, "choices": [], "usage": usage})
    return b"".join(b"data: %s\n\n" % msgspec.json.encode(c) for c in chunks) + b"data: [DONE]\n\n"


def _tool_call(number: int, call: ToolCall) -> dict[str, Any]:
    arguments = msgspec.json.encode(call.arguments).decode()
    function = {"name": call.name, "arguments": arguments}
    return {"id": f"call_{number}", "type": "function", "function": function}


def json_response(
    status: int, payload: object, headers: tuple[tuple[str, str], ...] = ()
) -> Response:
    return Response(status=status, body=msgspec.json.encode(payload), headers=headers)


def error_response(
    status: int, message: str, headers: tuple[tuple[str, str], ...] = ()
) -> Response:
    kind = {429: "rate_limit_error", 404: "not_found_error"}.get(status, "invalid_request_error")
    error = {"message": message, "type": "server_error" if status >= 500 else kind}
    return json_response(status, {"error": {**error, "param": None, "code": None}}, headers)


def _astext_of(reply: Answer) -> str:
    if isinstance(reply, str):
        return reply
    if isinstance(reply, Empty):
        return ""
    encodable = reply if isinstance(reply, msgspec.Struct) else dict(reply)
    return msgspec.json.encode(encodable).decode()


def messages_of(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The request's messages (those that are JSON objects)."""
    messages = body.get("messages")
    return [m for m in messages if isinstance(m, dict)] if isinstance(messages, list) else []


def text_of(content: Any) -> str:
    """The text of a message's content: a string, or the text parts of a list."""
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return content if isinstance(content, str) else ""


def _words(text: str) -> int:
    return len(text.split())
