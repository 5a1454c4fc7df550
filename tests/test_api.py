"""The library mirrors the command line: run, demo, replay, resume and fork return Results."""

from __future__ import annotations

from pathlib import Path

import pytest
import scripts
from returns.result import Failure, Success
from scripts import PRIMES, happy_replies

import plancontrol
from plancontrol import Halt, Problem
from plancontrol.app import api
from plancontrol.testing import OpenAITestServer


@pytest.mark.slow
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
        Problem(
            what="no API key for openai (model gpt-4o): set OPENAI_API_KEY in your shell, or use "
            "`base_url` for an OpenAI-compatible server, or `model=local`",
            where="OPENAI_API_KEY",
        )
    )
    assert not (tmp_path / "run").exists()
    missing = plancontrol.resume(tmp_path / "nowhere")
    assert missing == Failure(
        Problem(
            what=f"{tmp_path / 'nowhere'} is not a folder",
            where=str(tmp_path / "nowhere"),
            fix="pass the folder that `plancontrol run` wrote",
        )
    )


@pytest.mark.slow
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


@pytest.mark.slow
def test_resume_gives_the_step_it_goes_on_with_new_instructions(tmp_path: Path) -> None:
    from scripts import fix

    from plancontrol.core.answers import Code

    replies = {
        "planner": [PRIMES],
        "engineer": [Code("raise SystemExit(3)"), Code("print(2, 3, 5)")],
        "judge": [fix("exit 0"), scripts.OK],
        "researcher": ["# Report\nThree primes."],
    }
    with OpenAITestServer(replies) as server:
        settings = {"n_plan_reviews": 0, "max_n_attempts": 1}
        ran = plancontrol.run(
            "Compute primes", tmp_path / "run", model="m", base_url=server.base_url,
            settings=settings, env={},
        )  # fmt: skip
        assert isinstance(ran, Failure)
        resumed = plancontrol.resume(tmp_path / "run", instructions="Exit with status 0.", env={})
        assert isinstance(resumed, Success), resumed
        engineer = [e for e in server.log if e.key == "engineer"]
    assert "Exit with status 0." not in str(engineer[0].body["messages"])
    assert "Exit with status 0." in str(engineer[1].body["messages"])
    assert resumed.unwrap().plan is not None
    assert resumed.unwrap().plan.steps[0].bullet_points[-1] == "Exit with status 0."
    assert resumed.unwrap().completed_steps == (1, 2)


@pytest.mark.slow
def test_instructions_need_a_step_to_go_to(tmp_path: Path) -> None:
    dead = "http://127.0.0.1:9/v1"
    stopped = plancontrol.run(
        "Compute primes", tmp_path / "run", model="m", base_url=dead, max_retries=0, env={}
    )
    assert isinstance(stopped, Failure)
    refused = plancontrol.resume(tmp_path / "run", instructions="Be brief.", base_url=dead, env={})
    assert refused.failure().where == "instructions"
    assert refused.failure().message == (
        f"{tmp_path / 'run'} has no plan step left to give instructions to (its plan is not "
        "approved yet, or its last step is done); resume without them, or with "
        "settings.plan_instructions"
    )
    assert sorted(p.name for p in (tmp_path / "run" / "sessions").iterdir()) == ["01"]


class CtrlCAfterStep1:
    """An event sink that presses Ctrl-C as step 1 ends (after its snapshot)."""

    def emit(self, event: object) -> None:
        from plancontrol.core.events import StepComplete

        if isinstance(event, StepComplete) and event.step == 1:
            raise KeyboardInterrupt


@pytest.mark.slow
def test_an_interrupted_session_names_the_command_that_resumes_it(tmp_path: Path) -> None:
    import json
    import shlex

    from plancontrol.handlers.local import ApproveAll, Uninterrupted
    from plancontrol.recording.record import Handlers

    handlers = Handlers(events=CtrlCAfterStep1(), approver=ApproveAll(), signals=Uninterrupted())
    folder = tmp_path / "my run"
    with OpenAITestServer(happy_replies(PRIMES)) as server:
        with pytest.raises(KeyboardInterrupt):
            plancontrol.run(
                "Compute primes", folder, model="m", base_url=server.base_url,
                handlers=handlers, env={},
            )  # fmt: skip
        recorded = json.loads((folder / "sessions" / "01" / "session.json").read_text())
        shown = scripts.plancontrol("show", "my run", "--json", cwd=tmp_path)
        message = json.loads(shown.stdout)["sessions"][0]["message"]
        command = shlex.split(message.split("`")[1])
        resumed = scripts.plancontrol(*command[1:], "-q", cwd=tmp_path)
        asked = [e.key for e in server.log]

    assert (recorded["status"], recorded["message"]) == (
        "interrupted",
        f"interrupted by Ctrl-C; resume it with `resume(run_dir='{folder}')`",  # the library call
    )
    assert message == f"interrupted by Ctrl-C; resume it with `plancontrol resume '{folder}'`"
    assert resumed.returncode == 0, resumed.stderr  # the command works as printed
    assert asked.count("engineer") == 1  # step 1 was not run again
    assert asked.count("researcher") == 1
