"""The parameter policy per model family, run against the strict test server that refuses
what OpenAI's API refuses; readable refusals; budgets with unpriced models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from scripts import happy_replies, plancontrol, run_against

from plancontrol.handlers.policy import FAMILIES, Override, family_of, params_for, policy_table
from plancontrol.servers.scripted import Exchange
from plancontrol.testing import OpenAITestServer


def run_on(base_url: str, model: str, cwd: Path, *extra: str) -> Any:
    """``plancontrol run`` into ``cwd/run`` on ``model`` (the last --model wins)."""
    return run_against(base_url, "--model", model, "--max-retries", "0", *extra, cwd=cwd)


def sent(log: list[Exchange], name: str) -> list[Any]:
    """The value of body field ``name`` in each request (``...`` when it was not sent)."""
    return [e.body.get(name, ...) for e in log]


def one_line(stderr: str) -> str:
    return " ".join(stderr.split())


@pytest.mark.slow
@pytest.mark.parametrize("model", ["o3-mini", "gpt-5-mini"])
def test_reasoning_models_complete_a_run_on_the_strict_server(tmp_path: Path, model: str) -> None:
    with OpenAITestServer(happy_replies(), strict="openai") as server:
        done = run_on(server.base_url, model, tmp_path, "--reasoning-effort", "low")
        log = list(server.log)
    assert done.returncode == 0, done.stderr
    assert [e.status for e in log] == [200] * 6
    assert sent(log, "temperature") == [...] * 6
    assert sent(log, "max_tokens") == [...] * 6
    assert sent(log, "reasoning_effort") == ["low"] * 6
    replayed = plancontrol("replay", "run", "-q", cwd=tmp_path)
    assert replayed.returncode == 0, replayed.stderr


@pytest.mark.slow
def test_a_chat_model_gets_temperature_and_no_reasoning_effort(tmp_path: Path) -> None:
    with OpenAITestServer(happy_replies(), strict="openai") as server:
        done = run_on(server.base_url, "gpt-4o-mini", tmp_path, "--reasoning-effort", "high")
        log = list(server.log)
    assert done.returncode == 0, done.stderr
    assert sent(log, "temperature") == [0.0] * 6
    assert sent(log, "reasoning_effort") == [...] * 6  # the strict server would refuse it


@pytest.mark.slow
@pytest.mark.parametrize(
    ("model", "cap"),
    # a --base-url server's default cap (SERVER_MAX_TOKENS), as max_tokens for both names
    [("claude-sonnet-4", 768), ("gemini-2.5-flash", 768)],
)
def test_anthropic_and_gemini_names_behind_a_proxy_get_what_their_apis_take(
    tmp_path: Path, model: str, cap: object
) -> None:
    with OpenAITestServer(happy_replies()) as server:
        done = run_on(server.base_url, model, tmp_path)
        log = list(server.log)
    assert done.returncode == 0, done.stderr
    assert sent(log, "max_tokens") == [cap] * 6
    assert sent(log, "max_completion_tokens") == [...] * 6
    assert sent(log, "temperature") == [0.0] * 6


@pytest.mark.slow
def test_a_role_overrides_the_policy_in_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "plancontrol.toml").write_text(
        '[params.judge]\ntemperature = 1.0\nreasoning_effort = "high"\n'
        "[params.planner]\nmax_tokens = 300\n"
    )
    with OpenAITestServer(happy_replies(), strict="openai") as server:
        done = run_on(server.base_url, "o3", tmp_path)
        log = list(server.log)
    assert done.returncode == 0, done.stderr
    by_role = {e.key: e.body for e in log}
    assert by_role["judge"]["temperature"] == 1.0
    assert by_role["judge"]["reasoning_effort"] == "high"
    assert by_role["planner"]["max_completion_tokens"] == 300
    assert "temperature" not in by_role["engineer"]


@pytest.mark.slow
def test_a_refused_parameter_is_named_with_the_fix(tmp_path: Path) -> None:
    (tmp_path / "plancontrol.toml").write_text("[params.planner]\ntemperature = 0.5\n")
    with OpenAITestServer(happy_replies(), strict="openai") as server:
        done = run_on(server.base_url, "o3-mini", tmp_path)
        statuses = [e.status for e in server.log]
    assert done.returncode == 1
    assert statuses == [400]
    assert (
        "model call for planner (planning) failed: BadRequestError (HTTP 400) from o3-mini: "
        "Unsupported value: 'temperature' does not support 0.5 with this model. Only the default "
        "(1) value is supported.; the model refuses temperature, which the parameter policy "
        "sent: set temperature = false under [params.planner] in plancontrol.toml"
    ) in one_line(done.stderr)


@pytest.mark.slow
def test_a_bad_params_table_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "plancontrol.toml").write_text("[params.judge]\ntemprature = 1\n")
    done = plancontrol("run", "t", "--model", "o3", "--base-url", "http://x/v1", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith(
        "plancontrol: plancontrol.toml [params.judge]: Object contains unknown field `temprature`"
    )
    assert len(done.stderr.splitlines()) == 1


def test_the_family_table_and_the_parameters_it_decides() -> None:
    assert [f.name for f in FAMILIES] == ["openai-reasoning", "anthropic", "gemini"]
    names = ["o1", "o1-mini", "o3", "o3-mini", "o4-mini", "gpt-5", "gpt-5-mini", "gpt-5.1"]
    assert {family_of(n).name for n in names} == {"openai-reasoning"}
    assert {family_of(n).name for n in ["gpt-4o", "gpt-4.1-mini", "smol", "o30"]} == {"openai-chat"}
    p = params_for("gemini-2.5-flash", "judge", temperature=0.0, max_tokens=100)
    assert (p.temperature, p.token_field, p.max_tokens) == (0.0, "max_output_tokens", 100)
    forced = params_for(
        "gpt-5", "judge", temperature=0.0, max_tokens=None,
        overrides=[Override(role="judge", temperature=True)],
    )  # fmt: skip
    assert forced.temperature == 0.0
    assert "| openai-reasoning | o1*, o3*, o4*, gpt-5* | not sent |" in policy_table()


# --- budgets and unpriced models ------------------------------------------------------


@pytest.mark.slow
def test_a_budget_with_an_unpriced_model_is_refused_before_any_call(tmp_path: Path) -> None:
    (tmp_path / "plancontrol.toml").write_text("[settings]\nmax_cost_usd = 0.5\n")
    with OpenAITestServer(happy_replies()) as server:
        done = run_on(server.base_url, "my-llama", tmp_path)
        asked = len(server.log)
    assert done.returncode == 2
    assert asked == 0
    assert done.stderr == (
        "plancontrol: max_cost_usd is set but planner uses my-llama, whose price is unknown, so "
        'the budget could not be kept: give its price in plancontrol.toml ([prices] "my-llama" '
        "= [PROMPT, COMPLETION], dollars per million tokens) or drop max_cost_usd\n"
    )
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_a_price_in_the_config_file_prices_the_model_and_keeps_the_budget(
    tmp_path: Path,
) -> None:
    (tmp_path / "plancontrol.toml").write_text(
        '[settings]\nmax_cost_usd = 0.5\n[prices]\n"my-llama" = [2.0, 10.0]\n'
    )
    with OpenAITestServer(happy_replies()) as server:
        done = run_on(server.base_url, "my-llama", tmp_path)
    assert done.returncode == 0, done.stderr
    usage = json.loads((tmp_path / "run" / "context.json").read_text())["usage"]
    assert len(usage) == 6
    for row in usage:
        expected = (row["prompt_tokens"] * 2.0 + row["completion_tokens"] * 10.0) / 1e6
        assert row["cost_usd"] == pytest.approx(expected)
    replayed = plancontrol("replay", "run", "-q", cwd=tmp_path)
    assert replayed.returncode == 0, replayed.stderr


@pytest.mark.slow
def test_a_bad_price_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "plancontrol.toml").write_text('[prices]\n"my-llama" = 0.2\n')
    done = plancontrol("run", "t", "--model", "my-llama", "--base-url", "http://x/v1", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == (
        'plancontrol: plancontrol.toml [prices]: "my-llama" must be [PROMPT, COMPLETION], two '
        "dollar amounts per million tokens (0 or more), got 0.2\n"
    )


def test_the_models_page_shows_the_policy_table_as_the_module_has_it() -> None:
    page = Path(__file__).parent.parent / "docs" / "models.md"
    assert policy_table() in page.read_text()
