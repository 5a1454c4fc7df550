"""A script that timed out or exited with an error is never a step's success, whatever the judge
says: at the phase level with doubles, and end to end over the test server."""

from __future__ import annotations

from pathlib import Path

import pytest
from scripts import OK, PRIMES, contents, plancontrol, review

from plancontrol import AttemptsExhausted, Context, Execution, Plan, Settings
from plancontrol.core.answers import Code, Verdict
from plancontrol.core.context import decode_context
from plancontrol.core.phases.control import run_steps
from plancontrol.testing import OpenAITestServer, ScriptedExecutor, scripted_effects

ENGINEER_ONLY = Plan((PRIMES.steps[0],))
SAYS_DONE = Verdict("success", "the primes are saved")


@pytest.mark.parametrize(
    ("execution", "ended", "fix", "code_status"),
    [
        (
            Execution(exit_code=-9, timed_out=True),
            "timed out",
            "make the script finish well within the time limit",
            "timed_out",
        ),
        (
            Execution(exit_code=3, stderr="boom"),
            "exited with code 3",
            "make the script exit with code 0",
            "failed",
        ),
    ],
    ids=["timed-out", "exit-3"],
)
def test_the_judges_success_on_a_failed_script_is_a_failed_attempt(
    execution: Execution, ended: str, fix: str, code_status: str
) -> None:
    executor = ScriptedExecutor([execution, Execution(exit_code=0, stdout="2 3 5")])
    fx = scripted_effects(
        {"engineer": [Code("slow()"), Code("print(2, 3, 5)")], "judge": [SAYS_DONE, OK]},
        executor=executor,
    )
    ctx = Context(task="t", plan=ENGINEER_ONLY, settings=Settings(max_n_attempts=2))

    done = run_steps(ctx, fx).unwrap()

    (outcome,) = done.outcomes
    assert (outcome.status, outcome.code_status, outcome.attempts) == (
        "completed",
        "succeeded",
        2,
    )
    second = contents(fx.agents.requests_of("engineer"))[1]
    reason = (
        f"the script {ended}, so the step is not done (the judge's 'success' does not count: "
        "the primes are saved)"
    )
    assert f"Judge: {reason}\n\nFix suggestion:\n{fix}" in second
    assert [s.attempt for s in executor.scripts] == [1, 2]

    fx = scripted_effects(
        {"engineer": [Code("slow()")], "judge": [SAYS_DONE]},
        executor=ScriptedExecutor([execution]),
    )
    once = Context(task="t", plan=ENGINEER_ONLY, settings=Settings(max_n_attempts=1))
    halt = run_steps(once, fx).failure()

    assert halt.error == AttemptsExhausted(step=1, attempts=1, last_problem=reason)
    (outcome,) = halt.context.outcomes
    assert (outcome.status, outcome.code_status, outcome.summary) == ("failed", code_status, "")


def test_the_judges_success_on_a_clean_exit_still_completes_the_step() -> None:
    fx = scripted_effects(
        {"engineer": [Code("print(1)")], "judge": [SAYS_DONE]},
        executor=ScriptedExecutor([Execution(exit_code=0, stdout="1")]),
    )
    ctx = Context(task="t", plan=ENGINEER_ONLY, settings=Settings(max_n_attempts=1))
    (outcome,) = run_steps(ctx, fx).unwrap().outcomes
    assert (outcome.status, outcome.attempts) == ("completed", 1)
    assert outcome.summary.startswith("the primes are saved\n\nCode:")


@pytest.mark.slow
def test_a_script_that_timed_out_fails_the_run_though_the_judge_says_success(
    tmp_path: Path,
) -> None:
    replies = {
        "planner": [PRIMES, PRIMES],
        "plan_reviewer": [review("fine")],
        "engineer": [Code("import time\ntime.sleep(5)\nprint('2 3 5')")],
        "judge": [SAYS_DONE],
    }
    with OpenAITestServer(replies) as server:
        done = plancontrol(
            "run",
            "Compute primes",
            "--base-url",
            server.base_url,
            "--model",
            "test-model",
            "--run-dir",
            "run",
            "--code-timeout",
            "0.01",
            "--attempts",
            "1",
            "-q",
            cwd=tmp_path,
        )
        calls = [exchange.key for exchange in server.log]

    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    ctx = decode_context((tmp_path / "run" / "context.json").read_bytes()).unwrap()
    (outcome,) = ctx.outcomes
    assert (outcome.status, outcome.code_status, outcome.attempts) == ("failed", "timed_out", 1)
    assert outcome.error.startswith(
        "step 1 failed after 1 attempt(s); last problem: the script timed out, so the step is "
        "not done (the judge's 'success' does not count: the primes are saved);"
    )
    assert ctx.completed_steps == ()
    assert calls[-2:] == ["engineer", "judge"]  # the researcher's step never started
    ending = (tmp_path / "run" / "work" / "codebase" / "step_1_attempt_1.out.txt").read_text()
    assert ending.startswith("exit code: -9\ntimed out: yes\n")
