"""The agents effect on ag2: a fresh ``ag2.Agent`` per call, one event loop per run."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

from msgspec.structs import replace
from returns.result import Failure, Result, Success

from plancontrol.core.errors import ModelFailure
from plancontrol.core.ports import Reply, Request
from plancontrol.handlers.policy import Params, params_for
from plancontrol.handlers.prices import cost_usd
from plancontrol.handlers.refusals import (
    failure_detail,
    provider_message,
    refusal_hint,
    refuses_format,
)
from plancontrol.handlers.routes import Route, StructuredMode, next_mode
from plancontrol.handlers.structured import response_format, system_prompt

__all__ = ["Ag2Agents", "Settle", "ToolWrap"]

T = TypeVar("T")

Settle = Callable[[str, StructuredMode, tuple[str, ...]], None]
"""Told when a negotiation settles: the model, the mode it settled on, and the provider's
message for each mode refused on the way."""

ToolWrap = Callable[[str, int, Callable[..., Any]], Callable[..., Any]]
"""Given a role, its plan step and one of its tools, the function ag2 is to call in its
place for that turn (it keeps the tool's name and signature: ag2 reads the schema from it)."""


class Ag2Agents:
    """Asks each request's model through ag2, routed by model name (else ``default``).

    ``tools`` gives roles Python functions the model may call (ag2 runs them and asks again;
    the reply's usage then sums every model call of the turn); ``wrap_tools``, when given,
    wraps each of them for each turn (to journal their calls, or serve recorded results).
    Owns one event loop for the whole run (ag2 is async; the core is not), running in a
    thread of its own: ag2's tool machinery resolves names from the frames above it, which
    must not be the caller's. Use it as a context manager, or ``close()``.
    """

    def __init__(
        self,
        default: Route,
        routes: Mapping[str, Route] | None = None,
        tools: Mapping[str, Sequence[Callable[..., Any]]] | None = None,
        *,
        modes: Mapping[str, StructuredMode] | None = None,
        on_settle: Settle | None = None,
        wrap_tools: ToolWrap | None = None,
    ) -> None:
        self.default = default
        self.routes = dict(routes or {})
        self.modes = dict(modes or {})
        """Structured-output modes settled per model: by an earlier session, or by this
        adapter's negotiation (``on_settle`` is told)."""
        self.on_settle = on_settle
        self.tools = {role: tuple(fns) for role, fns in (tools or {}).items()}
        self.wrap_tools = wrap_tools
        self._loop = asyncio.new_event_loop()
        self._closing: asyncio.Future[None] = self._loop.create_future()
        self._root: asyncio.Task[None] | None = None
        self._thread = threading.Thread(target=self._serve, name="plancontrol-ag2", daemon=True)
        self._thread.start()
        self._http: Any = None  # one httpx2 client for the run, made inside the loop

    def __enter__(self) -> Ag2Agents:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the adapter's loop and wait for it; Ctrl-C cancels it."""
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise

    def close(self) -> None:
        """Close the HTTP client, cancel what is left, stop the loop and its thread."""
        if self._loop.is_closed():
            return
        self.run(self._shutdown())
        self._loop.call_soon_threadsafe(self._closing.set_result, None)
        self._thread.join()
        self._loop.close()

    def _serve(self) -> None:
        """The loop thread: the loop runs one root task until ``close()``, as under
        ``asyncio.run`` (not ``run_forever``). AnyIO, which runs ag2's synchronous handlers in
        worker threads, keeps those threads for the life of the loop's root task; without one
        it ties them to each call's task, and every call started and stopped a thread."""
        self._loop.run_until_complete(self._hold())

    async def _hold(self) -> None:
        # Scheduled before any run() coroutine can start, so set before any of them runs.
        self._root = asyncio.current_task()
        await self._closing

    async def _shutdown(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        current = asyncio.current_task()
        leftovers = [t for t in asyncio.all_tasks() if t is not current and t is not self._root]
        for task in leftovers:
            task.cancel()
        await asyncio.gather(*leftovers, return_exceptions=True)
        await self._loop.shutdown_asyncgens()

    def route(self, model: str) -> Route:
        """The route for ``model``; when it negotiates, in the mode settled for the model."""
        route = self.routes.get(model, self.default)
        settled = self.modes.get(model)
        if settled is None or not route.negotiate:
            return route
        return replace(route, structured=settled, negotiate=False)

    def ask(self, request: Request) -> Result[Reply, ModelFailure]:
        """Ask ``request``'s model. On a route that negotiates, the first structured call
        tries each mode in turn while the server refuses it, and keeps the one accepted."""
        route = self.route(request.model)
        negotiating = route.negotiate and request.schema is not None
        refused: list[str] = []
        while True:
            try:
                text, model, prompt, completion = self.run(self._ask(request, route))
                break
            except Exception as exc:  # every provider/transport failure becomes a value
                after = next_mode(route.structured)
                if negotiating and after is not None and refuses_format(exc):
                    refused.append(f"{route.structured}: {provider_message(exc)}")
                    route = replace(route, structured=after)
                    continue
                hint = refusal_hint(exc, request, route)
                detail = failure_detail(exc, request.model) + (f"; {hint}" if hint else "")
                return Failure(ModelFailure(role=request.role, step=request.step, detail=detail))
        if negotiating:  # settled: said and recorded when a mode was refused on the way
            self.modes[request.model] = route.structured
            if refused and self.on_settle is not None:
                self.on_settle(request.model, route.structured, tuple(refused))
        given = route.prices
        cost = 0.0 if route.free else cost_usd(model, prompt, completion, given)
        return Success(
            Reply(
                text=_writable(text),
                model=model,
                prompt_tokens=prompt,
                completion_tokens=completion,
                cost_usd=cost,
            )
        )

    async def _ask(self, request: Request, route: Route) -> tuple[str, str, int, int]:
        import ag2
        from ag2.events.input_events import ModelRequest, TextInput
        from ag2.events.types import ModelMessage, ModelResponse

        *earlier, last = request.messages
        stream = None  # ag2 makes a fresh one; an explicit stream only to seed a re-ask's turns
        if earlier:
            stream = ag2.MemoryStream()
            await stream.history.replace(
                [
                    ModelRequest([TextInput(m.content)])
                    if m.role == "user"
                    else ModelResponse(ModelMessage(m.content))
                    for m in earlier
                ]
            )
        if self._http is None:
            import httpx2

            self._http = httpx2.AsyncClient()
        config = _config(request, route, self._http)
        tools = self.tools.get(request.role, ())
        if self.wrap_tools is not None:
            wrap = self.wrap_tools
            tools = tuple(wrap(request.role, request.step, fn) for fn in tools)
        agent = ag2.Agent(
            request.role, prompt=system_prompt(request, route), config=config, tools=tools
        )
        reply = await agent.ask(last.content, stream=stream)
        # With tools a turn makes several model calls: sum them; else the one call's usage.
        usage = (await reply.usage()).total if tools else reply.response.usage
        return (
            reply.body or "",
            reply.response.model or request.model,
            int(usage.prompt_tokens or 0),
            int(usage.completion_tokens or 0),
        )


def _config(request: Request, route: Route, http: Any) -> Any:
    """The ag2 model config for ``route``, with the parameters the model's family takes
    (``plancontrol.handlers.policy``); provider packages are imported only when used."""
    extra: dict[str, Any] = {}
    fmt = response_format(request, route)
    if fmt is not None:
        extra["response_format"] = fmt
    params = params_for(
        request.model,
        request.role,
        temperature=route.temperature,
        max_tokens=route.max_tokens,
        reasoning_effort=route.reasoning_effort,
        overrides=route.overrides,
    )
    if route.provider == "anthropic":
        from ag2.config import AnthropicConfig

        return AnthropicConfig(
            model=request.model,
            api_key=route.api_key,
            base_url=route.base_url,
            temperature=params.temperature,
            max_tokens=params.max_tokens or 4096,
        )
    if route.provider == "gemini":
        from ag2.config import GeminiConfig

        return GeminiConfig(
            model=request.model,
            api_key=route.api_key,
            temperature=params.temperature,
            max_output_tokens=params.max_tokens,
        )
    return _openai_config(request, route, params, extra, http)


def _openai_config(
    request: Request, route: Route, params: Params, extra: dict[str, Any], http: Any
) -> Any:
    """The ag2 config of an OpenAI-compatible route: only the parameters ``params`` sends."""
    from ag2.config import OpenAIConfig

    options: dict[str, Any] = {}
    if params.temperature is not None:
        options["temperature"] = params.temperature
    if route.seed is not None:
        options["seed"] = route.seed
    if params.max_tokens is not None:
        capped = params.token_field == "max_completion_tokens"
        options["max_completion_tokens" if capped else "max_tokens"] = params.max_tokens
    if params.reasoning_effort is not None:
        options["reasoning_effort"] = params.reasoning_effort
    return OpenAIConfig(
        model=request.model,
        api_key=route.api_key or "not-needed",
        base_url=route.base_url,
        timeout=route.timeout,
        max_retries=route.max_retries,
        extra_body=extra or None,
        http_client=http,
        **options,
    )


def _writable(text: str) -> str:
    """``text`` with each unpaired surrogate (a ``\\ud83d`` escape cut from its pair, which
    no file can hold) replaced by U+FFFD, here where replies come in.

    >>> _writable("ok \\ud83d!")
    'ok \ufffd!'
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text)
    return text
