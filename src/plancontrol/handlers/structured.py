"""How a request asks for structured output: the response_format, grammar-safe schemas."""

from __future__ import annotations

import json
from typing import Any

from plancontrol.core.ports import Request
from plancontrol.handlers.routes import Route

__all__ = ["GRAMMAR_BOUND_LIMIT", "grammar_schema", "response_format", "system_prompt"]

_JSON_CHAR = r'([^"\\\x00-\x1f]|\\(["\\/bfnrt]|u[0-9a-fA-F]{4}))'
"""One character of a JSON string, as a regular expression."""


GRAMMAR_BOUND_LIMIT = 500
"""The largest ``maxLength`` or ``maxItems`` a grammar schema keeps. llama-cpp-python spells a
bound N as N nested optional groups, and llama.cpp's grammar parser refuses a repetition over
2000 generated rules ("number of rules that are going to be repeated ... exceeds sane
defaults"), after which its server process dies: measured on SmolLM2's server, a string of
``maxLength`` 1000 compiles and 1001 does not. Half of that leaves room for other converters."""


def _bounded_strings(node: Any) -> Any:
    if isinstance(node, list):
        return [_bounded_strings(v) for v in node]
    if not isinstance(node, dict):
        return node
    node = {k: _bounded_strings(v) for k, v in node.items()}
    if not _compiles(node.get("maxItems")):
        del node["maxItems"]
    if node.get("type") == "string" and "enum" not in node and "pattern" not in node:
        limit = node.pop("maxLength", None)
        bound = f"{{0,{limit}}}" if limit is not None and _compiles(limit) else "*"
        node["pattern"] = f"^{_JSON_CHAR}{bound}$"
    return node


def _compiles(bound: Any) -> bool:
    """Whether a ``maxLength``/``maxItems`` value can stay in a grammar (absent is fine)."""
    return bound is None or (type(bound) is int and 0 <= bound <= GRAMMAR_BOUND_LIMIT)


def grammar_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` rewritten for servers that turn schemas into grammars (llama.cpp): the root
    ``$ref`` inlined (its converter cannot follow it and silently drops the schema) and every
    free string held to characters valid inside JSON and to its ``maxLength``; a bound above
    ``GRAMMAR_BOUND_LIMIT`` (which would not compile) is dropped, the string or array unbounded.

    >>> out = grammar_schema({"$ref": "#/$defs/A", "$defs": {"A": {"type": "object",
    ...     "properties": {"a": {"type": "string", "maxLength": 5}}}}})
    >>> out["type"], out["properties"]["a"]["pattern"].endswith("{0,5}$"), "$defs" in out
    ('object', True, True)
    >>> grammar_schema({"type": "string", "maxLength": 2000})["pattern"][-3:]
    ')*$'
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


def system_prompt(request: Request, route: Route) -> str:
    """The system prompt; with the ``prompt`` mode, the schema is asked for in it."""
    if request.schema is None or route.structured != "prompt":
        return request.system
    return (
        f"{request.system}\n\nReply with only a JSON object, no prose and no code fence, that "
        f"matches this JSON Schema:\n{json.dumps(request.schema, sort_keys=True)}"
    )
