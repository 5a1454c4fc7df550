"""The agents effect on ag2: a fresh ``ag2.Agent`` per call, one event loop per run."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from returns.result import Failure, Result, Success

from plancontrol.effects import Reply, Request
from plancontrol.errors import ModelFailure
from plancontrol.models import Route
from plancontrol.prices import cost_usd

__all__ = ["Ag2Agents", "grammar_schema", "response_format"]

_JSON_CHAR = r'([^"\\\x00-\x1f]|\\(["\\/bfnrt]|u[0-9a-fA-F]{4}))'
"""One character of a JSON string, as a regular expression."""


def _bounded_strings(node: Any) -> Any:
    if isinstance(node, list):
        return [_bounded_strings(v) for v in node]
    if not isinstance(node, dict):
        return node
    node = {k: _bounded_strings(v) for k, v in node.items()}
    if node.get("type") == "string" and "enum" not in node and "pattern" not in node:
        limit = node.pop("maxLength", None)
        node["pattern"] = f"^{_JSON_CHAR}{'*' if limit is None else f'{{0,{limit}}}'}$"
    return node


def grammar_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` rewritten for servers that turn schemas into grammars (llama.cpp): the root
    ``$ref`` inlined (its converter cannot follow it and silently drops the schema) and every
    free string held to characters valid inside JSON and to its ``maxLength``.

    >>> out = grammar_schema({"$ref": "#/$defs/A", "$defs": {"A": {"type": "object",
    ...     "properties": {"a": {"type": "string", "maxLength": 5}}}}})
    >>> out["type"], out["properties"]["a"]["pattern"].endswith("{0,5}$"), "$defs" in out
    ('object', True, True)
    """
    out: dict[str, Any] = _bounded_strings(schema)
    ref = out.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        defs = out["$defs"]
        out = {**defs[ref.removeprefix("#/$defs/")], "$defs": defs}
    return out


def response_format(request: Request, route: Route) -> dict[str, Any] | None:
    """The ``response_format`` body field asking ``route`` for ``request.schema``, if any.

    >>> r = Request(role="judge", model="m", phase="control", step=1, attempt=1, system="",
    ...             messages=(), schema_name="Verdict", schema={"type": "object"})
    >>> response_format(r, Route(structured="json_object"))
    {'type': 'json_object', 'schema': {'type': 'object'}}
    >>> response_format(r, Route())["json_schema"]["name"]
    'Verdict'
    >>> response_format(r, Route(structured="prompt")) is None
    True
    """
    if request.schema is None or route.structured == "prompt":
        return None
    if route.structured == "json_object":
        return {"type": "json_object", "schema": grammar_schema(request.schema)}
    return {
        "type": "json_schema",
        "json_schema": {"name": request.schema_name or "reply", "schema": request.schema},
    }


def _system(request: Request, route: Route) -> str:
    if request.schema is None or route.structured != "prompt":
        return request.system
    return (
        f"{request.system}\n\nReply with only a JSON object, no prose and no code fence, that "
        f"matches this JSON Schema:\n{json.dumps(request.schema, sort_keys=True)}"
    )


def _detail(exc: BaseException) -> str:
    status = getattr(exc, "status_code", None)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    name = type(exc).__name__
    return f"{name} (HTTP {status}): {text}" if status else f"{name}: {text or 'no detail'}"


class Ag2Agents:
    """Asks each request's model through ag2, routed by model name (else ``default``).

    Owns one event loop for the whole run (ag2 is async; the core is not): use it as a
    context manager, or call ``close()``.
    """

    def __init__(self, default: Route, routes: Mapping[str, Route] | None = None) -> None:
        self.default = default
        self.routes = dict(routes or {})
        self._runner = asyncio.Runner()
        self._http: Any = None  # one httpx2 client for the run, made inside the loop

    def __enter__(self) -> Ag2Agents:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP client, then the event loop."""
        if self._http is not None:
            self._runner.run(self._http.aclose())
            self._http = None
        self._runner.close()

    def route(self, model: str) -> Route:
        """The route for ``model``."""
        return self.routes.get(model, self.default)

    def ask(self, request: Request) -> Result[Reply, ModelFailure]:
        route = self.route(request.model)
        try:
            text, model, prompt, completion = self._runner.run(self._ask(request, route))
        except Exception as exc:  # every provider/transport failure becomes a value
            return Failure(ModelFailure(role=request.role, step=request.step, detail=_detail(exc)))
        cost = 0.0 if route.free else cost_usd(model, prompt, completion)
        return Success(
            Reply(
                text=text,
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
        agent = ag2.Agent(request.role, prompt=_system(request, route), config=config)
        reply = await agent.ask(last.content, stream=stream)
        usage = reply.response.usage
        return (
            reply.body or "",
            reply.response.model or request.model,
            int(usage.prompt_tokens or 0),
            int(usage.completion_tokens or 0),
        )


def _config(request: Request, route: Route, http: Any) -> Any:
    """The ag2 model config for ``route``; provider packages are imported only when used."""
    extra: dict[str, Any] = {}
    fmt = response_format(request, route)
    if fmt is not None:
        extra["response_format"] = fmt
    if route.provider == "anthropic":
        from ag2.config import AnthropicConfig

        return AnthropicConfig(
            model=request.model,
            api_key=route.api_key,
            base_url=route.base_url,
            temperature=route.temperature,
        )
    if route.provider == "gemini":
        from ag2.config import GeminiConfig

        return GeminiConfig(
            model=request.model, api_key=route.api_key, temperature=route.temperature
        )
    from ag2.config import OpenAIConfig

    options: dict[str, Any] = {}
    if route.temperature is not None:
        options["temperature"] = route.temperature
    if route.seed is not None:
        options["seed"] = route.seed
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
