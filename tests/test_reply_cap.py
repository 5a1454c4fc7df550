"""The reply cap (max_tokens): a default for --base-url servers and the embedded model, set
by flag, config key or API parameter, sent in the field the model family takes, recorded so
that replay, resume and fork use the same cap."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from returns.result import Failure, Success
from scripts import happy_replies, plancontrol, run_against

from plancontrol.app import api
from plancontrol.app.config import load_config
from plancontrol.app.routing import SERVER_MAX_TOKENS, ModelChoice, plan_models
from plancontrol.core.problem import Problem
from plancontrol.servers.scripted import Exchange
from plancontrol.testing import OpenAITestServer, Status


def caps(log: list[Exchange], field: str = "max_tokens") -> list[Any]:
    """The cap each request that reached the model sent in ``field`` (``...``: none)."""
    return [e.body.get(field, ...) for e in log if e.status == 200]


def manifest_cap(run: Path) -> Any:
    return json.loads((run / "manifest.json").read_text())["default_route"]["max_tokens"]


def test_the_default_cap_is_for_servers_and_the_embedded_model_only() -> None:
    server = plan_models(ModelChoice(model="smol", base_url="http://h/v1"), {}, False, "")
    local = plan_models(ModelChoice(model="local"), {}, True, "")
    hosted = plan_models(ModelChoice(model="gpt-4o"), {"OPENAI_API_KEY": "k"}, False, "")
    assert server.unwrap().default.max_tokens == SERVER_MAX_TOKENS == 768
    assert local.unwrap().default.max_tokens == SERVER_MAX_TOKENS
    assert hosted.unwrap().default.max_tokens is None
    given = ModelChoice(model="gpt-4o", max_tokens=2000)
    routes = plan_models(given, {"OPENAI_API_KEY": "k"}, False, "").unwrap().routes
    assert [(name, route.max_tokens) for name, route in routes] == [("gpt-4o", 2000)]


def test_a_cap_below_one_is_refused_in_one_line() -> None:
    zero = ModelChoice(model="smol", base_url="http://h/v1", max_tokens=0)
    refused = plan_models(zero, {}, False, "")
    assert refused == Failure(
        Problem(what="max_tokens must be a whole number above 0, got 0", where="max_tokens")
    )
    bad = load_config(None, {"PLANCONTROL_MAX_TOKENS": "-5"}, {})
    assert bad == Failure(
        Problem(
            what="max_tokens from $PLANCONTROL_MAX_TOKENS must be a whole number above 0, got -5",
            where="max_tokens",
        )
    )
    text = load_config(None, {}, {"max_tokens": "many"})
    assert text == Failure(
        Problem(what="--max-tokens must be a whole number, got 'many'", where="max_tokens")
    )


def test_the_config_key_and_variable_set_the_cap(tmp_path: Path) -> None:
    file = tmp_path / "plancontrol.toml"
    file.write_text("[run]\nmax_tokens = 1500\n")
    assert load_config(file, {}, {}).unwrap().run["max_tokens"] == 1500
    from_env = load_config(file, {"PLANCONTROL_MAX_TOKENS": "900"}, {}).unwrap()
    assert (from_env.run["max_tokens"], from_env.sources["max_tokens"]) == (
        900,
        "$PLANCONTROL_MAX_TOKENS",
    )
    assert ("max_tokens", "(none)", "default") in load_config(None, {}, {}).unwrap().rows()


@pytest.mark.slow
def test_a_base_url_run_sends_the_default_cap_and_replays_it(tmp_path: Path) -> None:
    with OpenAITestServer(happy_replies(), strict="llama.cpp") as server:
        done = run_against(server.base_url, "--model", "smol", "--max-retries", "0", cwd=tmp_path)
        log = list(server.log)
    assert done.returncode == 0, done.stderr
    assert caps(log) == [768] * 6  # planner, reviewer, planner, engineer, judge, researcher
    assert manifest_cap(tmp_path / "run") == 768
    replayed = plancontrol("replay", "run", "-q", cwd=tmp_path)  # the server is gone
    assert replayed.returncode == 0, replayed.stderr
    assert replayed.stdout.startswith("replay identical to the recording (")


@pytest.mark.slow
def test_the_api_cap_is_recorded_and_resume_and_fork_keep_or_change_it(tmp_path: Path) -> None:
    replies = happy_replies()
    report = replies["researcher"][0]
    # step 2 fails first; it is answered for the resume, then again for the fork
    replies["researcher"] = [Status(503, message="upstream overloaded"), report, report]
    replies["engineer"] *= 2
    replies["judge"] *= 2
    run, fork = tmp_path / "run", tmp_path / "fork"
    with OpenAITestServer(replies, strict="llama.cpp") as server:
        first = api.run(
            "Compute primes", run, model="smol", base_url=server.base_url, max_tokens=300,
            max_retries=0, env={},
        )  # fmt: skip
        ran = len(server.log)
        resumed = api.resume(run, env={})
        resumed_log = server.log[ran:]
        forked = api.fork(run, fork, from_step=1, max_tokens=500, env={})
        forked_log = server.log[ran + len(resumed_log) :]
    assert isinstance(first, Failure)
    assert caps(server.log[:ran]) == [300] * 5
    assert isinstance(resumed, Success), resumed
    assert [(e.key, e.body.get("max_tokens")) for e in resumed_log] == [("researcher", 300)]
    assert isinstance(forked, Success), forked
    assert [(e.key, e.body.get("max_tokens")) for e in forked_log] == [
        ("engineer", 500),
        ("judge", 500),
        ("researcher", 500),
    ]
    assert (manifest_cap(run), manifest_cap(fork)) == (300, 300)  # the manifest: as started
    for folder in (run, fork):
        replayed = api.replay(folder)
        assert isinstance(replayed, Success), replayed
        assert replayed.unwrap().identical


@pytest.mark.slow
def test_a_reasoning_model_name_gets_the_cap_as_max_completion_tokens(tmp_path: Path) -> None:
    with OpenAITestServer(happy_replies(), strict="openai") as server:
        ran = api.run(
            "Compute primes", tmp_path / "run", model="o3-mini", base_url=server.base_url,
            max_tokens=1200, max_retries=0, env={},
        )  # fmt: skip
        log = list(server.log)
    assert isinstance(ran, Success), ran
    assert caps(log, "max_completion_tokens") == [1200] * 6
    assert caps(log, "max_tokens") == [...] * 6


@pytest.mark.slow
def test_the_max_tokens_flag_and_config_key_reach_the_server(tmp_path: Path) -> None:
    (tmp_path / "plancontrol.toml").write_text("[run]\nmax_tokens = 1500\n")
    twice = {role: replies * 2 for role, replies in happy_replies().items()}  # two runs
    with OpenAITestServer(twice, strict="llama.cpp") as server:
        from_file = run_against(server.base_url, "--model", "smol", cwd=tmp_path)
        ran = len(server.log)
        (tmp_path / "plancontrol.toml").unlink()
        flagged = plancontrol(
            "run", "Compute primes", "--base-url", server.base_url, "--model", "smol",
            "--max-tokens", "400", "--run-dir", "flagged", cwd=tmp_path,
        )  # fmt: skip
        log = list(server.log)
    assert from_file.returncode == 0, from_file.stderr
    assert flagged.returncode == 0, flagged.stderr
    assert caps(log[:ran]) == [1500] * 6
    assert caps(log[ran:]) == [400] * 6
    assert manifest_cap(tmp_path / "flagged") == 400


@pytest.mark.slow
def test_a_max_tokens_flag_below_one_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done = plancontrol(
        "run", "t", "--base-url", "http://127.0.0.1:9/v1", "--model", "smol",
        "--max-tokens", "0", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr == "plancontrol: --max-tokens must be a whole number above 0, got 0\n"
    resumed = plancontrol("resume", "nowhere", "--max-tokens", "-1", cwd=tmp_path)
    assert resumed.returncode == 2
    assert resumed.stderr == "plancontrol: --max-tokens must be a whole number above 0, got -1\n"
    assert list(tmp_path.iterdir()) == []
