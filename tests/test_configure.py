"""Choosing models from flags and the environment: routes, keys, the embedded fallback."""

from __future__ import annotations

from msgspec.structs import replace

from plancontrol.app.routing import (
    SERVER_MAX_TOKENS,
    ModelChoice,
    budget_problem,
    plan_models,
)
from plancontrol.core.settings import RoleModel, Settings
from plancontrol.handlers.policy import Override
from plancontrol.handlers.routes import Route

HINT = "install the local extra"


def test_local_model_is_used_when_nothing_is_configured_and_it_is_installed() -> None:
    plan = plan_models(ModelChoice(), {}, local_available=True, local_hint=HINT).unwrap()
    assert plan.local
    assert plan.default.structured == "json_object"
    assert plan.default.free
    assert "embedded local model" in plan.notice


def test_nothing_configured_and_no_local_model_says_how_to_configure() -> None:
    problem = plan_models(ModelChoice(), {}, local_available=False, local_hint=HINT).failure()
    assert problem.message == f"no model configured. {HINT}"


def test_an_openai_key_picks_the_fallback_model() -> None:
    env = {"OPENAI_API_KEY": "sk-test"}
    plan = plan_models(ModelChoice(), env, local_available=True, local_hint=HINT).unwrap()
    assert (plan.default_model, plan.local) == ("gpt-4o-mini", False)
    assert plan.default == Route(api_key="sk-test", structured="json_schema")


def test_a_hosted_model_without_its_key_is_a_clear_error() -> None:
    choice = ModelChoice(model="claude-sonnet-4")
    problem = plan_models(choice, {"OPENAI_API_KEY": "x"}, True, HINT).failure()
    assert problem.where == "ANTHROPIC_API_KEY"
    assert problem.message == (
        "no API key for anthropic (model claude-sonnet-4): set ANTHROPIC_API_KEY in your shell, "
        "or use `base_url` for an OpenAI-compatible server, or `model=local`"
    )


def test_role_models_get_their_providers_routes_and_keys() -> None:
    choice = ModelChoice(model="gpt-4o", role_models=(("planner", "gemini-2.5-pro"),))
    env = {"OPENAI_API_KEY": "o", "GOOGLE_API_KEY": "g"}
    plan = plan_models(choice, env, False, HINT).unwrap()
    routes = dict(plan.routes)
    assert routes["gpt-4o"].provider == "openai"
    assert (routes["gemini-2.5-pro"].provider, routes["gemini-2.5-pro"].api_key) == ("gemini", "g")
    assert routes["gemini-2.5-pro"].structured == "prompt"
    assert plan.role_models == (("planner", "gemini-2.5-pro"),)


def test_base_url_routes_every_model_to_that_server_with_an_optional_key() -> None:
    choice = ModelChoice(model="qwen", base_url="http://127.0.0.1:9/v1", structured="json_object")
    plan = plan_models(choice, {}, True, HINT).unwrap()
    assert plan.default == Route(
        base_url="http://127.0.0.1:9/v1", structured="json_object", max_tokens=SERVER_MAX_TOKENS
    )
    assert plan.routes == ()
    assert plan_models(ModelChoice(base_url="http://x/v1"), {}, True, HINT).failure().message == (
        "`base_url` needs `model`: the name of a model that server serves"
    )


def test_model_local_without_the_extra_gives_the_hint() -> None:
    assert plan_models(ModelChoice(model="local"), {}, False, HINT).failure().message == HINT


def test_routes_never_show_their_key() -> None:
    assert "sk-secret" not in repr(Route(api_key="sk-secret"))


def test_a_base_url_without_structured_negotiates_and_with_it_does_not() -> None:
    free = plan_models(ModelChoice(model="m", base_url="http://h/v1"), {}, False, HINT).unwrap()
    forced = ModelChoice(model="m", base_url="http://h/v1", structured="json_object")
    fixed = plan_models(forced, {}, False, HINT).unwrap()
    hosted = plan_models(ModelChoice(model="o3"), {"OPENAI_API_KEY": "k"}, False, HINT).unwrap()
    assert (free.default.structured, free.default.negotiate) == ("json_schema", True)
    assert (fixed.default.structured, fixed.default.negotiate) == ("json_object", False)
    assert hosted.default.negotiate is False


def test_every_route_carries_the_policy_knobs_and_prices() -> None:
    judge = Override(role="judge", temperature=False)
    choice = ModelChoice(
        model="o3",
        role_models=(("planner", "gpt-4o"),),
        reasoning_effort="high",
        overrides=(judge,),
        prices=(("o3", 1.0, 2.0),),
    )
    plan = plan_models(choice, {"OPENAI_API_KEY": "k"}, False, HINT).unwrap()
    for _, route in plan.routes:
        assert (route.reasoning_effort, route.overrides, route.prices) == (
            "high",
            (judge,),
            (("o3", 1.0, 2.0),),
        )


def test_a_budget_needs_a_price_for_every_role_but_the_embedded_model_is_free() -> None:
    local = plan_models(ModelChoice(model="local"), {}, True, HINT).unwrap()
    budget = Settings(default_model="local", max_cost_usd=1.0)
    assert budget_problem(budget, local) is None
    served = plan_models(ModelChoice(model="gpt-4o", base_url="http://h/v1"), {}, False, HINT)
    mixed = Settings(
        default_model="gpt-4o",
        role_models=(RoleModel("judge", "my-judge"),),
        max_cost_usd=1.0,
    )
    problem = budget_problem(mixed, served.unwrap())
    assert problem is not None
    assert problem.where == "max_cost_usd"
    assert problem.message.startswith("max_cost_usd is set but judge uses my-judge, whose price")
    assert budget_problem(replace(mixed, max_cost_usd=None), served.unwrap()) is None
