"""Asking agents from a phase: usage recorded per call, budgets checked, typed replies validated."""

from __future__ import annotations

from functools import lru_cache
from typing import Any, TypeVar

import msgspec
from msgspec.structs import replace
from returns.result import Failure, Result, Success

from plancontrol.core.carryover import clip
from plancontrol.core.context import Context, UsageRow
from plancontrol.core.errors import BudgetExceeded, InvalidReply, ModelFailure
from plancontrol.core.ledger import known_cost
from plancontrol.core.phase import Halt
from plancontrol.core.ports import Message, Reply, Request, World

__all__ = [
    "ECHO_LIMIT",
    "ask",
    "ask_text",
    "ask_typed",
    "schema_of",
    "validation_problem",
]

ECHO_LIMIT = 2000
"""Characters of an off-schema reply shown back to the model when it is asked again: enough to
see what went wrong; a reply cut off at the end of the context window (seen: 10,785
characters from SmolLM2 on llama.cpp) sent back whole would overflow the window again."""

T = TypeVar("T")


def _plain(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _plain(v) for k, v in node.items() if k not in ("title", "description")}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def schema_of(typ: type[object]) -> dict[str, Any]:
    """The JSON Schema a reply of type ``typ`` must satisfy, without the docstrings msgspec
    copies into it (they are written for programmers, not for models).

    >>> from plancontrol.core.answers import Install
    >>> schema_of(Install)["$defs"]["Install"]["properties"]["packages"]["maxItems"]
    10
    >>> schema_of(Install) is not schema_of(Install)  # a fresh copy: callers narrow it in place
    True
    """
    key: Any = typ  # a type (or type expression): hashable, mostly
    try:
        generated = _generated_schema(key)
    except TypeError:  # a type expression that cannot be a cache key
        generated = msgspec.json.schema(typ)
    plain: dict[str, Any] = _plain(generated)  # fresh dicts and lists; the cached one stays
    return plain


@lru_cache(maxsize=256)
def _generated_schema(typ: Any) -> dict[str, Any]:
    """msgspec's schema for ``typ``, generated once per type (0.1 to 0.2 ms each time, on
    every typed call before); only ever read, through ``_plain``."""
    generated: dict[str, Any] = msgspec.json.schema(typ)
    return generated


def ask(ctx: Context, fx: World, request: Request) -> Result[tuple[Context, Reply], Halt]:
    """Ask once; the returned context carries this call's usage row (also on a budget stop)."""
    match fx.agents.ask(request):
        case Failure(error):
            return Failure(Halt(error, ctx))
        case Success(reply):
            pass
    row = UsageRow(
        role=request.role,
        model=reply.model or request.model,
        phase=request.phase,
        step=request.step,
        attempt=request.attempt,
        prompt_tokens=reply.prompt_tokens,
        completion_tokens=reply.completion_tokens,
        cost_usd=reply.cost_usd,
    )
    ctx = replace(ctx, usage=(*ctx.usage, row))
    limit = ctx.settings.max_cost_usd
    spent = known_cost(ctx.usage)
    if limit is not None and spent > limit:
        return Failure(
            Halt(BudgetExceeded(limit_usd=limit, spent_usd=spent, step=request.step), ctx)
        )
    return Success((ctx, reply))


def validation_problem(exc: msgspec.MsgspecError) -> tuple[str, str]:
    """Split a msgspec error into (JSON path, what was wrong).

    >>> from plancontrol.core.answers import Install
    >>> try:
    ...     msgspec.json.decode(b'{"packages": [1]}', type=Install)
    ... except msgspec.ValidationError as exc:
    ...     validation_problem(exc)
    ('$.packages[0]', 'Expected `str`, got `int`')
    """
    text = str(exc)
    detail, sep, path = text.rpartition(" - at ")
    if not sep:
        return "$", text
    return path.strip("`"), detail


def ask_typed(
    ctx: Context, fx: World, request: Request, typ: type[T]
) -> Result[tuple[Context, T], Halt]:
    """Ask for a reply of type ``typ`` (described by ``request.schema`` when the request
    narrows it, else by ``typ``'s schema); re-ask with the validation problem, at most
    ``max_reply_retries`` times, then stop with ``InvalidReply`` naming the field."""
    request = replace(request, schema_name=typ.__name__, schema=request.schema or schema_of(typ))
    retries = ctx.settings.max_reply_retries
    path, detail = "$", ""
    for asked in range(1, retries + 2):
        match ask(ctx, fx, request):
            case Failure(halt):
                return Failure(halt)
            case Success((ctx, reply)):
                pass
        try:
            return Success((ctx, msgspec.json.decode(reply.text, type=typ)))
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            path, detail = validation_problem(exc)
            if not reply.text.strip():
                detail = "the reply is empty"
        except RecursionError:  # msgspec's guard against nesting deeper than the stack allows
            path, detail = "$", "JSON is nested too deeply"
        except UnicodeEncodeError:  # a "\ud800" escape in the provider's JSON: no UTF-8 for it
            path, detail = "$", "the reply is not valid Unicode (it holds an unpaired surrogate)"
        if asked <= retries:
            fix = (
                f"Your reply did not match the required JSON schema: {detail} at {path}. "
                "Reply again with only a JSON object that matches the schema."
            )
            request = replace(
                request,
                messages=(
                    *request.messages,
                    Message("assistant", clip(reply.text, ECHO_LIMIT)),
                    Message("user", fix),
                ),
            )
    error = InvalidReply(
        role=request.role, step=request.step, path=path, detail=detail, asked=retries + 1
    )
    return Failure(Halt(error, ctx))


EMPTY_NOTE = "Your previous reply was empty. Reply again, in full."
"""What a re-asked text request adds to its last message after an empty reply."""


def ask_text(ctx: Context, fx: World, request: Request) -> Result[tuple[Context, Reply], Halt]:
    """Ask for a reply in prose: an empty (blank) reply is asked again, the last message
    noting it, at most ``max_reply_retries`` times; then stop with a ``ModelFailure`` that
    says the model replied with nothing."""
    retries = ctx.settings.max_reply_retries
    first = request
    for asked in range(1, retries + 2):
        match ask(ctx, fx, request):
            case Failure(halt):
                return Failure(halt)
            case Success((ctx, reply)):
                pass
        if reply.text.strip():
            return Success((ctx, reply))
        if asked <= retries and first.messages:
            *earlier, last = first.messages
            noted = replace(last, content=f"{last.content}\n\n{EMPTY_NOTE}")
            request = replace(first, messages=(*earlier, noted))
    error = ModelFailure(
        role=request.role,
        step=request.step,
        detail=f"it replied with an empty message {retries + 1} time(s); raise "
        "max_reply_retries or use another model",
    )
    return Failure(Halt(error, ctx))
