"""Choosing models from flags and the environment: routes, keys, the embedded fallback."""

from __future__ import annotations

from plancontrol.configure import ModelChoice, plan_models
from plancontrol.models import Route

HINT = "install the local extra"


def test_local_model_is_used_when_nothing_is_configured_and_it_is_installed() -> None:
    plan = plan_models(ModelChoice(), {}, local_available=True, local_hint=HINT).unwrap()
    assert plan.local
    assert plan.default.structured == "json_object"
    assert plan.default.free
    assert "embedded local model" in plan.notice


def test_nothing_configured_and_no_local_model_says_how_to_configure() -> None:
    problem = plan_models(ModelChoice(), {}, local_available=False, local_hint=HINT).failure()
    assert problem == f"no model configured. {HINT}"


def test_an_openai_key_picks_the_fallback_model() -> None:
    env = {"OPENAI_API_KEY": "sk-test"}
    plan = plan_models(ModelChoice(), env, local_available=True, local_hint=HINT).unwrap()
    assert (plan.default_model, plan.local) == ("gpt-4o-mini", False)
    assert plan.default == Route(api_key="sk-test", structured="json_schema")


def test_a_hosted_model_without_its_key_is_a_clear_error() -> None:
    choice = ModelChoice(model="claude-sonnet-4")
    problem = plan_models(choice, {"OPENAI_API_KEY": "x"}, True, HINT).failure()
    assert problem == (
        "no API key for anthropic (model claude-sonnet-4): set ANTHROPIC_API_KEY in your shell, "
        "or use --base-url for an OpenAI-compatible server, or --model local"
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
    assert plan.default == Route(base_url="http://127.0.0.1:9/v1", structured="json_object")
    assert plan.routes == ()
    assert plan_models(ModelChoice(base_url="http://x/v1"), {}, True, HINT).failure() == (
        "--base-url needs --model: the name of a model that server serves"
    )


def test_model_local_without_the_extra_gives_the_hint() -> None:
    assert plan_models(ModelChoice(model="local"), {}, False, HINT).failure() == HINT


def test_routes_never_show_their_key() -> None:
    assert "sk-secret" not in repr(Route(api_key="sk-secret"))
