"""A real OpenAI-compatible HTTP server on 127.0.0.1 for tests: scripts, a request log, faults."""

from __future__ import annotations

import contextlib
import itertools
import re
import socket
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

import msgspec

__all__ = [
    "Drop",
    "Empty",
    "Exchange",
    "Malformed",
    "OpenAITestServer",
    "ServerReply",
    "Slow",
    "Status",
    "Strictness",
    "ToolCall",
    "ToolCalls",
    "Usage",
    "role_of",
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


class Exchange(msgspec.Struct, frozen=True):
    """One request and how it was answered: ``status`` 0 is a dropped connection, ``reply_text``
    the content sent (the tool calls as JSON), the tokens those the usage reported."""

    index: int
    method: str
    path: str
    key: str
    body: dict[str, Any]
    status: int
    reply_text: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0


Strictness = Literal["openai", "llama.cpp"]
"""What a strict test server refuses, as the real one does: ``openai``, the parameters
OpenAI's API refuses for reasoning models (a temperature other than 1, ``max_tokens``) and
``reasoning_effort`` for the others; ``llama.cpp``, a ``json_schema`` response format, as
llama-cpp-python's server does (HTTP 500). Each refusal carries that server's error body."""

_REASONING = re.compile(r"^(o\d|gpt-5)([-.:@]|$)")
"""Model names OpenAI's API treats as reasoning models (o1, o3-mini, o4-mini, gpt-5…)."""

_LLAMA_CPP_APP = "/usr/lib/python3/site-packages/llama_cpp/server/app.py"


def _openai_refusal(status: int, message: str, param: str, code: str) -> _Response:
    error = {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    return _json(status, {"error": error})


def _strict_refusal(strict: Strictness | None, body: dict[str, Any]) -> _Response | None:
    """The error a real server of kind ``strict`` answers ``body`` with, or None."""
    if strict == "llama.cpp":
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
        return _json(500, {"error": error})
    if strict != "openai":
        return None
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


_ROLE = re.compile(r"You are the (\w+)")


def role_of(body: dict[str, Any]) -> str:
    """NAME if the first system (or developer) message starts "You are the NAME", else the model.

    >>> role_of({"model": "m", "messages": [{"role": "system", "content": "You are the judge."}]})
    'judge'
    """
    for message in _messages(body):
        if message.get("role") in ("system", "developer"):
            found = _ROLE.match(_text(message.get("content")).lstrip())
            if found:
                return found.group(1)
            break
    return str(body.get("model", ""))


class OpenAITestServer:
    """Answers ``POST /v1/chat/completions`` over real HTTP from per-key scripts, in order, or
    with ``replies(body)``; ``GET /v1/models`` lists the models seen; anything else is a 404.

    The key is ``route(body)``: by default the NAME of a "You are the NAME" system prompt, else
    the model. A key with no reply left gets a 500. Every request is kept in ``log``. Give
    clients ``max_retries=0``, or their retries use up scripted replies. Connections close
    after each response unless ``keep_alive`` (as real providers do; then clients that leave
    sockets open get ResourceWarnings). A ``strict`` server refuses, before any script is
    used, what that kind of real server refuses (see ``Strictness``)::

        with OpenAITestServer({"planner": ["# Plan", Status(429, retry_after=0.1)]}) as server:
            client = openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0)
    """

    def __init__(
        self,
        replies: Mapping[str, Iterable[ServerReply]] | Callable[[dict[str, Any]], ServerReply],
        *,
        route: Callable[[dict[str, Any]], str] = role_of,
        keep_alive: bool = False,
        strict: Strictness | None = None,
    ) -> None:
        self.keep_alive = keep_alive
        self.strict = strict
        self._fn = replies if callable(replies) else None
        self._queues: dict[str, deque[ServerReply]] = {}
        for key, answers in {} if callable(replies) else replies.items():
            if isinstance(answers, str | msgspec.Struct | Mapping):
                raise TypeError(f"the replies for {key!r} must be a list of replies, not one reply")
            self._queues[key] = deque(answers)
        self._route = route
        self._lock = threading.Lock()
        self._call_ids = itertools.count(1)
        self._models: dict[str, None] = {}
        self._http: _HTTPServer | None = None
        self.log: list[Exchange] = []

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``, a client's ``base_url``."""
        if self._http is None:
            raise RuntimeError("the test server is not running: call start() or use `with`")
        return f"http://127.0.0.1:{self._http.server_address[1]}/v1"

    @property
    def unused(self) -> dict[str, int]:
        """Replies left unplayed, per key (a test can assert this is empty)."""
        with self._lock:
            return {key: len(queue) for key, queue in self._queues.items() if queue}

    def start(self) -> OpenAITestServer:
        """Listens on a free port of 127.0.0.1 and serves from daemon threads."""
        if self._http is None:
            self._http = _HTTPServer(self)
            self._http.serving.start()
        return self

    def stop(self) -> None:
        """Stops serving, cuts open connections (waking a Slow reply), and frees the port."""
        http, self._http = self._http, None
        if http is None:
            return
        http.stopping.set()
        http.shutdown()
        http.serving.join()
        with http.lock:
            handlers = list(http.handlers.items())
        for connection, _ in handlers:
            with contextlib.suppress(OSError):  # its handler closed it already
                connection.shutdown(socket.SHUT_RDWR)
        for _, thread in handlers:
            thread.join(timeout=5)
        http.server_close()

    def __enter__(self) -> OpenAITestServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _answer(self, method: str, path: str, raw: bytes) -> _Response:
        """Decides the response to one request and logs it; called from the handler threads."""
        path, body, key = path.split("?", 1)[0], {}, ""
        with self._lock:
            if method == "GET" and path == "/v1/models":
                seen = list(self._models) or ["test-model"]
                models = [{"id": m, "object": "model", "created": CREATED} for m in seen]
                response = _json(200, {"object": "list", "data": models})
            elif method != "POST" or path != "/v1/chat/completions":
                response = _error(404, f"test server: no route for {method} {path}")
            else:
                try:
                    body = msgspec.json.decode(raw, type=dict[str, Any])
                except msgspec.DecodeError:
                    response = _error(400, "test server: the request body is not a JSON object")
                else:
                    key, response = self._complete(body)
            index = len(self.log)
            figures = (response.status, response.text, response.prompt, response.completion)
            self.log.append(Exchange(index, method, path, key, body, *figures))
            return response

    def _complete(self, body: dict[str, Any]) -> tuple[str, _Response]:
        key = ""
        try:
            key = self._route(body)
            self._models[str(body.get("model", ""))] = None
            refusal = _strict_refusal(self.strict, body)
            if refusal is not None:
                return key, refusal
            if self._fn is not None:
                return key, _render(self._fn(body), body, len(self.log), self._call_ids)
            queue = self._queues.get(key)
            if not queue:
                return key, _error(500, f"test server: no scripted reply left for {key!r}")
            return key, _render(queue.popleft(), body, len(self.log), self._call_ids)
        except Exception as error:  # a bug in the test's route or replies: show it to the client
            return key, _error(500, f"test server: could not answer: {error!r}")


class _Response(msgspec.Struct, frozen=True, kw_only=True):
    """What the handler sends (nothing when ``status`` is 0), and what the log records."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0
    text: str | None = None
    prompt: int = 0
    completion: int = 0


def _render(reply: ServerReply, body: dict[str, Any], index: int, ids: Iterator[int]) -> _Response:
    """The response one scripted reply makes to one request."""
    fixed: tuple[int | None, int | None] = (None, None)
    while isinstance(reply, Usage):  # an outer figure wins over an inner one
        fixed = (
            reply.prompt_tokens if fixed[0] is None else fixed[0],
            reply.completion_tokens if fixed[1] is None else fixed[1],
        )
        reply = reply.reply
    stream = body.get("stream") is True
    if isinstance(reply, Slow):
        later = _render(Usage(reply.then, *fixed), body, index, ids)
        return msgspec.structs.replace(later, delay=reply.seconds)
    if isinstance(reply, Status):
        retry = () if reply.retry_after is None else (("retry-after", f"{reply.retry_after:g}"),)
        return _error(reply.code, reply.message, retry)
    if isinstance(reply, Drop):
        return _Response(status=0)
    if isinstance(reply, Malformed):
        kind = "text/event-stream" if stream else "application/json"
        return _Response(status=200, body=b"data: {not json\n\n", content_type=kind)
    message: dict[str, Any] = {"role": "assistant", "content": None}
    if isinstance(reply, ToolCalls):
        message["tool_calls"] = calls = [_tool_call(next(ids), call) for call in reply.calls]
        finish, text = "tool_calls", msgspec.json.encode(calls).decode()
        counted = sum(_words(call["function"]["arguments"]) for call in calls)
    else:
        finish, text = "stop", _as_text(reply)
        message["content"], counted = text, _words(text)
    asked = sum(_words(_text(m.get("content"))) for m in _messages(body))
    prompt = asked if fixed[0] is None else fixed[0]
    completion = counted if fixed[1] is None else fixed[1]
    usage = {"prompt_tokens": prompt, "completion_tokens": completion}
    usage["total_tokens"] = prompt + completion
    head = {"id": f"chatcmpl-test-{index}", "created": CREATED, "model": body.get("model", "")}
    if stream:
        chunks = _stream(head, message, finish, usage, body)
        response = _Response(status=200, body=chunks, content_type="text/event-stream")
    else:
        choice = {"index": 0, "message": message, "finish_reason": finish}
        response = _json(
            200, {**head, "object": "chat.completion", "choices": [choice], "usage": usage}
        )
    return msgspec.structs.replace(response, text=text, prompt=prompt, completion=completion)


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


def _json(status: int, payload: object, headers: tuple[tuple[str, str], ...] = ()) -> _Response:
    return _Response(status=status, body=msgspec.json.encode(payload), headers=headers)


def _error(status: int, message: str, headers: tuple[tuple[str, str], ...] = ()) -> _Response:
    kind = {429: "rate_limit_error", 404: "not_found_error"}.get(status, "invalid_request_error")
    error = {"message": message, "type": "server_error" if status >= 500 else kind}
    return _json(status, {"error": {**error, "param": None, "code": None}}, headers)


def _as_text(reply: Answer) -> str:
    if isinstance(reply, str):
        return reply
    if isinstance(reply, Empty):
        return ""
    encodable = reply if isinstance(reply, msgspec.Struct) else dict(reply)
    return msgspec.json.encode(encodable).decode()


def _messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages = body.get("messages")
    return [m for m in messages if isinstance(m, dict)] if isinstance(messages, list) else []


def _text(content: Any) -> str:
    """The text of a message's content: a string, or the text parts of a list."""
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return content if isinstance(content, str) else ""


def _words(text: str) -> int:
    return len(text.split())


class _HTTPServer(ThreadingHTTPServer):
    """Serves each connection in a daemon thread it keeps track of, so that stop() ends them."""

    def __init__(self, owner: OpenAITestServer) -> None:
        self.owner = owner
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.handlers: dict[socket.socket, threading.Thread] = {}
        super().__init__(("127.0.0.1", 0), _Handler)
        self.serving = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def process_request(self, request: Any, client_address: Any) -> None:
        args = (request, client_address)
        thread = threading.Thread(target=self.process_request_thread, args=args, daemon=True)
        with self.lock:
            self.handlers[request] = thread
        thread.start()

    def shutdown_request(self, request: Any) -> None:
        with self.lock:
            self.handlers.pop(request, None)
        super().shutdown_request(request)


class _Handler(BaseHTTPRequestHandler):
    """One connection, one request (or many, with keep_alive)."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms stall
    server: _HTTPServer

    def handle(self) -> None:
        with contextlib.suppress(OSError):  # the client went away, or stop() cut the connection
            super().handle()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        keep_alive = self.server.owner.keep_alive
        self.close_connection = not keep_alive
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        response = self.server.owner._answer(self.command, self.path, raw)
        if response.status == 0 or self.server.stopping.wait(response.delay):
            return
        self.send_response(response.status)
        for name, value in (
            ("content-type", response.content_type),
            ("content-length", str(len(response.body))),
            ("connection", "keep-alive" if keep_alive else "close"),
            *response.headers,
        ):
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve
