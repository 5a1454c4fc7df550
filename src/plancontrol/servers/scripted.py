"""A real OpenAI-compatible HTTP server on 127.0.0.1 for tests: scripts, a request log, faults."""

from __future__ import annotations

import contextlib
import itertools
import re
import socket
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import msgspec

from plancontrol.servers.replies import (
    CREATED,
    Response,
    ServerReply,
    error_response,
    json_response,
    messages_of,
    render,
    text_of,
)
from plancontrol.servers.strict import Strictness, strict_refusal

__all__ = ["Exchange", "OpenAITestServer", "role_of"]


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
    authorization: str = ""  # the request's Authorization header, as sent


_ROLE = re.compile(r"You are the (\w+)")


def role_of(body: dict[str, Any]) -> str:
    """NAME if the first system (or developer) message starts "You are the NAME", else the model.

    >>> role_of({"model": "m", "messages": [{"role": "system", "content": "You are the judge."}]})
    'judge'
    """
    for message in messages_of(body):
        if message.get("role") in ("system", "developer"):
            found = _ROLE.match(text_of(message.get("content")).lstrip())
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

    def _answer(self, method: str, path: str, raw: bytes, authorization: str = "") -> Response:
        """Decides the response to one request and logs it; called from the handler threads."""
        path, body, key = path.split("?", 1)[0], {}, ""
        with self._lock:
            if method == "GET" and path == "/v1/models":
                seen = list(self._models) or ["test-model"]
                models = [{"id": m, "object": "model", "created": CREATED} for m in seen]
                response = json_response(200, {"object": "list", "data": models})
            elif method != "POST" or path != "/v1/chat/completions":
                response = error_response(404, f"test server: no route for {method} {path}")
            else:
                try:
                    body = msgspec.json.decode(raw, type=dict[str, Any])
                except msgspec.DecodeError:
                    response = error_response(
                        400, "test server: the request body is not a JSON object"
                    )
                else:
                    key, response = self._complete(body)
            index = len(self.log)
            figures = (response.status, response.text, response.prompt, response.completion)
            exchange = Exchange(index, method, path, key, body, *figures, authorization)
            self.log.append(exchange)
            return response

    def _complete(self, body: dict[str, Any]) -> tuple[str, Response]:
        key = ""
        try:
            key = self._route(body)
            self._models[str(body.get("model", ""))] = None
            refusal = strict_refusal(self.strict, body)
            if refusal is not None:
                return key, refusal
            if self._fn is not None:
                return key, render(self._fn(body), body, len(self.log), self._call_ids)
            queue = self._queues.get(key)
            if not queue:
                return key, error_response(500, f"test server: no scripted reply left for {key!r}")
            return key, render(queue.popleft(), body, len(self.log), self._call_ids)
        except Exception as error:  # a bug in the test's route or replies: show it to the client
            return key, error_response(500, f"test server: could not answer: {error!r}")


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
        authorization = self.headers.get("authorization", "")
        response = self.server.owner._answer(self.command, self.path, raw, authorization)
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
