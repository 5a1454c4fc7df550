"""Turns command-line model choices and an environment into routes; reads nothing itself."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import msgspec
from msgspec.structs import replace
from returns.result import Failure, Result, Success

from plancontrol.core.problem import Problem
from plancontrol.core.settings import SUPPORT_ROLES, Settings
from plancontrol.handlers.defaults import MODEL_TIMEOUT
from plancontrol.handlers.policy import Override, ReasoningEffort
from plancontrol.handlers.prices import price_of
from plancontrol.handlers.routes import (
    KEY_VARIABLES,
    Provider,
    Route,
    StructuredMode,
    default_mode,
    provider_of,
)

__all__ = [
    "LOCAL",
    "SERVER_MAX_TOKENS",
    "ModelChoice",
    "ModelPlan",
    "budget_problem",
    "parse_role_models",
    "plan_models",
    "recorded_routes",
]

LOCAL = "local"
"""The model name that asks for the embedded local model."""

FALLBACK_MODEL = "gpt-4o-mini"
SERVER_MAX_TOKENS = 768
"""The reply cap (tokens) for the embedded model and a ``base_url`` server when the run
gives none (``max_tokens``): a small model can ramble until its context is full. A hosted
provider's model gets none unless the run gives one (its family may require one: see
``plancontrol.handlers.policy``)."""


class ModelChoice(msgspec.Struct, frozen=True, kw_only=True):
    """What the user asked for on the command line."""

    model: str | None = None
    role_models: tuple[tuple[str, str], ...] = ()
    base_url: str | None = None
    structured: StructuredMode | None = None
    timeout: float = MODEL_TIMEOUT
    max_retries: int = 2
    reasoning_effort: ReasoningEffort | None = None
    max_tokens: int | None = None
    """The reply cap for every role (None: ``SERVER_MAX_TOKENS`` for the embedded model and
    a ``base_url`` server, none for a hosted provider)."""
    overrides: tuple[Override, ...] = ()
    """Per-role parameters from the config file's ``[params.ROLE]`` tables."""
    prices: tuple[tuple[str, float, float], ...] = ()
    """Prices from the config file's ``[prices]`` table."""


def _policy(route: Route, choice: ModelChoice) -> Route:
    """``route`` with what every route of ``choice`` shares: its parameters (the reply cap
    when one is given, else the route's own) and prices.

    >>> _policy(Route(max_tokens=SERVER_MAX_TOKENS), ModelChoice(max_tokens=300)).max_tokens
    300
    >>> _policy(Route(max_tokens=SERVER_MAX_TOKENS), ModelChoice()).max_tokens
    768
    """
    return replace(
        route,
        max_tokens=choice.max_tokens or route.max_tokens,
        reasoning_effort=choice.reasoning_effort,
        overrides=choice.overrides,
        prices=choice.prices,
    )


class ModelPlan(msgspec.Struct, frozen=True, kw_only=True):
    """The models a run uses: the default and per-role names, and how each is reached.

    When ``local`` is set, the shell starts the embedded server and puts its address into
    ``default`` (and every route) before the run.
    """

    default_model: str
    role_models: tuple[tuple[str, str], ...]
    default: Route
    routes: tuple[tuple[str, Route], ...]
    local: bool
    notice: str = ""


def parse_role_models(values: Sequence[str]) -> Result[tuple[tuple[str, str], ...], Problem]:
    """``ROLE=MODEL`` pairs from repeated ``--role-model`` flags.

    >>> parse_role_models(["planner=gpt-4o", "engineer=o3"]).unwrap()
    (('planner', 'gpt-4o'), ('engineer', 'o3'))
    >>> parse_role_models(["planner"]).failure().message
    "--role-model expects ROLE=MODEL, got 'planner'"
    """
    pairs: list[tuple[str, str]] = []
    for value in values:
        role, sep, model = value.partition("=")
        if not sep or not role.strip() or not model.strip():
            return Failure(
                Problem(what=f"--role-model expects ROLE=MODEL, got {value!r}", where="role_models")
            )
        pairs.append((role.strip(), model.strip()))
    return Success(tuple(pairs))


def _key(env: Mapping[str, str], provider: Provider) -> str | None:
    return next((env[n] for n in KEY_VARIABLES[provider] if env.get(n)), None)


def _hosted(model: str, choice: ModelChoice, env: Mapping[str, str]) -> Result[Route, Problem]:
    provider = provider_of(model)
    key = _key(env, provider)
    if key is None:
        names = " or ".join(KEY_VARIABLES[provider])
        return Failure(
            Problem(
                what=f"no API key for {provider} (model {model}): set {names} in your shell, or "
                "use `base_url` for an OpenAI-compatible server, or `model=local`",
                where=names,
            )
        )
    return Success(
        Route(
            provider=provider,
            api_key=key,
            structured=choice.structured or default_mode(provider),
            timeout=choice.timeout,
            max_retries=choice.max_retries,
        )
    ).map(lambda route: _policy(route, choice))


def _local(choice: ModelChoice, notice: str) -> ModelPlan:
    route = Route(
        structured=choice.structured or "json_object",
        timeout=choice.timeout,
        max_retries=choice.max_retries,
        seed=0,
        max_tokens=SERVER_MAX_TOKENS,
        free=True,
        embedded=True,
    )
    route = _policy(route, choice)
    return ModelPlan(
        default_model=LOCAL, role_models=(), default=route, routes=(), local=True, notice=notice
    )


def plan_models(
    choice: ModelChoice, env: Mapping[str, str], local_available: bool, local_hint: str
) -> Result[ModelPlan, Problem]:
    """Decide the models: ``--model local``; a ``--base-url`` server; a hosted provider with
    its key from ``env``; or, with nothing configured, the embedded model when installed."""
    if choice.max_tokens is not None and choice.max_tokens < 1:
        return Failure(
            Problem(
                what=f"max_tokens must be a whole number above 0, got {choice.max_tokens}",
                where="max_tokens",
            )
        )
    if choice.model == LOCAL:
        if not local_available:
            return Failure(Problem(what=local_hint))
        return Success(_local(choice, "using the embedded local model"))
    if choice.base_url is not None:
        return _served(choice, choice.base_url, env)
    model = choice.model
    notice = ""
    if model is None:
        if _key(env, "openai"):
            model = FALLBACK_MODEL
            notice = f"no --model given: using {model} with OPENAI_API_KEY"
        elif local_available:
            return Success(
                _local(
                    choice,
                    "no model configured (no --model, no --base-url, no "
                    "OPENAI_API_KEY): using the embedded local model",
                )
            )
        else:
            return Failure(Problem(what=f"no model configured. {local_hint}"))
    return _providers(choice, model, notice, env)


def _served(
    choice: ModelChoice, base_url: str, env: Mapping[str, str]
) -> Result[ModelPlan, Problem]:
    """Every role on the OpenAI-compatible server at ``base_url``."""
    if choice.model is None:
        return Failure(
            Problem(
                what="`base_url` needs `model`: the name of a model that server serves",
                where="model",
            )
        )
    route = Route(
        base_url=base_url,
        api_key=env.get("OPENAI_API_KEY") or None,
        structured=choice.structured or "json_schema",
        negotiate=choice.structured is None,
        timeout=choice.timeout,
        max_retries=choice.max_retries,
        max_tokens=SERVER_MAX_TOKENS,
    )
    route = _policy(route, choice)
    return Success(
        ModelPlan(
            default_model=choice.model,
            role_models=choice.role_models,
            default=route,
            routes=(),
            local=False,
        )
    )


def _providers(
    choice: ModelChoice, model: str, notice: str, env: Mapping[str, str]
) -> Result[ModelPlan, Problem]:
    """``model`` and each role's own model from their hosted providers, each with its key."""
    routes: dict[str, Route] = {}
    for name in dict.fromkeys((model, *(m for _, m in choice.role_models))):
        match _hosted(name, choice, env):
            case Failure(problem):
                return Failure(problem)
            case Success(route):
                routes[name] = route
    return Success(
        ModelPlan(
            default_model=model,
            role_models=choice.role_models,
            default=routes[model],
            routes=tuple(routes.items()),
            local=False,
            notice=notice,
        )
    )


def recorded_routes(
    default_model: str,
    default: Route,
    routes: tuple[tuple[str, Route], ...],
    env: Mapping[str, str],
) -> Result[tuple[Route, tuple[tuple[str, Route], ...]], Problem]:
    """The routes a run was recorded with (keys are never recorded), each given its key from
    the shell again, to resume or fork the run."""
    keyed: list[tuple[str, Route]] = []
    for name, route in ((default_model, default), *routes):
        names = ("OPENAI_API_KEY",) if route.base_url else KEY_VARIABLES[route.provider]
        key = next((env[n] for n in names if env.get(n)), None)
        if key is None and route.base_url is None and not route.free:
            return Failure(
                Problem(
                    what=f"no API key for {route.provider} (model {name}), which this run used: "
                    f"set {' or '.join(names)} in your shell",
                    where=" or ".join(names),
                )
            )
        keyed.append((name, replace(route, api_key=key)))
    return Success((keyed[0][1], tuple(keyed[1:])))


def budget_problem(settings: Settings, plan: ModelPlan) -> Problem | None:
    """Why ``settings.max_cost_usd`` cannot be enforced: a role whose model has no price
    (the embedded model is free); None when every role's model is priced or no budget is set.

    >>> plan = plan_models(ModelChoice(model="my-llama", base_url="http://h/v1"), {}, False,
    ...                    "").unwrap()
    >>> problem = budget_problem(Settings(default_model="my-llama", max_cost_usd=1.0), plan)
    >>> print(problem.message[:65])
    max_cost_usd is set but planner uses my-llama, whose price is unk
    """
    if settings.max_cost_usd is None:
        return None
    routes = dict(plan.routes)
    for role in (*SUPPORT_ROLES, *settings.role_names):
        model = settings.model_for(role)
        route = routes.get(model, plan.default)
        if route.free or price_of(model, route.prices) is not None:
            continue
        return Problem(
            what=f"max_cost_usd is set but {role} uses {model}, whose price is unknown, so the "
            f"budget could not be kept: give its price in plancontrol.toml ([prices] "
            f'"{model}" = [PROMPT, COMPLETION], dollars per million tokens) or drop max_cost_usd',
            where="max_cost_usd",
        )
    return None
