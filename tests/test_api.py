"""The library mirrors the command line: run, demo, replay, resume and fork return Results."""

from __future__ import annotations

from pathlib import Path

from returns.result import Failure, Success
from scripts import PRIMES, happy_replies

import plancontrol
from plancontrol import Halt, api
from plancontrol.testing import OpenAITestServer


def test_run_on_a_server_then_replay_resume_and_fork(tmp_path: Path) -> None:
    replies = happy_replies(PRIMES)
    replies["researcher"] = ["# Report\nAll fine."] * 3
    with OpenAITestServer(replies) as server:
        ran = plancontrol.run(
            "Compute primes",
            tmp_path / "run",
            model="test-model",
            base_url=server.base_url,
            settings={"max_plan_steps": 4},
            env={},
        )
        assert isinstance(ran, Success)
        assert ran.unwrap().completed_steps == (1, 2)
        assert ran.unwrap().settings.max_plan_steps == 4

        resumed = plancontrol.resume(tmp_path / "run", from_step=2, env={})
        assert isinstance(resumed, Success)
        forked = plancontrol.fork(
            tmp_path / "run", tmp_path / "fork", from_step=2, sets=("n=3",), env={}
        )
        assert isinstance(forked, Success)
        assert forked.unwrap().variables["n"] == 3
        asked = [e.key for e in server.log]
    assert asked.count("researcher") == 3  # the run, the resume and the fork ran step 2
    assert asked.count("engineer") == 1  # step 1 ran once, in the first run
    for folder in ("run", "fork"):
        replayed = plancontrol.replay(tmp_path / folder)
        assert isinstance(replayed, Success)
        assert replayed.unwrap().identical


def test_bad_input_is_a_failure_with_one_line_and_nothing_written(tmp_path: Path) -> None:
    assert plancontrol.run("t", tmp_path / "run", model="gpt-4o", env={}) == Failure(
        "no API key for openai (model gpt-4o): set OPENAI_API_KEY in your shell, or use "
        "`base_url` for an OpenAI-compatible server, or `model=local`"
    )
    assert not (tmp_path / "run").exists()
    missing = plancontrol.resume(tmp_path / "nowhere")
    assert missing == Failure(
        f"{tmp_path / 'nowhere'} is not a folder; pass the folder that `plancontrol run` wrote"
    )


def test_a_stopped_workflow_is_a_halt_with_its_context(tmp_path: Path) -> None:
    done = api.demo(tmp_path / "run")  # the offline demo, as a library call
    assert isinstance(done, Success)
    replies = {"planner": [PRIMES, PRIMES], "plan_reviewer": []}  # the review never answers
    with OpenAITestServer(replies) as server:
        stopped = plancontrol.run(
            "Compute primes", tmp_path / "other", model="m", base_url=server.base_url, env={}
        )
    assert isinstance(stopped, Failure)
    halt = stopped.failure()
    assert isinstance(halt, Halt)
    assert halt.context.plan == PRIMES
    assert "plan_reviewer" in halt.message
